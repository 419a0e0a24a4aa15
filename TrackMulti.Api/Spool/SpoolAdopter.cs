using Microsoft.Extensions.Options;
using TrackMulti.Api.Pipeline;

namespace TrackMulti.Api.Spool;

/// <summary>
/// At start and every <c>SPOOL_ADOPT_SECONDS</c>, looks in <c>SPOOL_DIR</c> for folders whose lock is free (a replica
/// that died, was scaled in with work left, or ran before this one with another id), locks one, recovers it exactly as
/// a start would, moves its sealed segments into this replica's log under their own keys (so S3 still gets each
/// object once: same key, same bytes) and removes the folder. The lock means two replicas never adopt one folder.
/// </summary>
public sealed class SpoolAdopter(
    SpoolLog log, SpoolDirectory own, IOptions<SpoolOptions> options, TimeProvider time, ILogger<SpoolAdopter> logger) : BackgroundService
{
    private readonly Lock _lock = new();
    private readonly List<Adoption> _recent = [];

    /// <summary>The latest adoptions by this replica (at most 10), newest last.</summary>
    public IReadOnlyList<Adoption> Recent()
    {
        lock (_lock)
        {
            return [.. _recent];
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var root = Path.GetDirectoryName(own.Root)!;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.AdoptSeconds), time);
        do
        {
            foreach (var folder in SpoolFolders.Others(root, log.InstanceId))
            {
                if (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                try
                {
                    await AdoptAsync(folder, isRoot: folder == root);
                }
                catch (Exception ex)
                {
                    // Left as it is: its lock is free again, so this or another replica tries again later.
                    logger.LogError(ex, "Adopting the spool folder {Folder} failed", folder);
                }
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private async Task AdoptAsync(string folder, bool isRoot)
    {
        using var held = SpoolFolders.TryLock(folder);
        if (held is null)
        {
            return; // a live replica's
        }
        var orphan = new SpoolDirectory(folder);
        var recovered = orphan.Recover(logger);
        if (recovered.Segments.Count > 0)
        {
            await log.AdoptAsync(orphan, recovered.Segments);
            var adoption = new Adoption(Path.GetFileName(folder), recovered.Segments.Count, recovered.Segments.Sum(s => s.Events), time.GetUtcNow());
            logger.LogInformation("Adopted {Segments} batches ({Events} events) from the spool folder {Folder}; they go on under their keys",
                adoption.Segments, adoption.Events, folder);
            lock (_lock)
            {
                _recent.Add(adoption);
                if (_recent.Count > 10)
                {
                    _recent.RemoveAt(0);
                }
            }
        }
        held.DeleteFolder(isRoot);
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
