using System.Collections.Concurrent;
using TrackMulti.Api.Pipeline;

namespace TrackMulti.Api.Spool;

/// <summary>
/// Makes what producers wrote into open segments durable, for every stream, on a thread of its own (a sync waits for
/// the device, and no request thread should wait with it unless it must). With <c>SPOOL_SYNC=always</c> it syncs as
/// soon as anything was written, and each append awaits the pass that began after its copy: one awaitable per pass,
/// shared by every request it covers (group commit). With <c>interval</c> it syncs every interval and nobody waits.
/// A pass syncs the open folder first when segments were created since the last one, then each segment written.
/// </summary>
internal sealed class SpoolSyncer
{
    private readonly ConcurrentQueue<OpenSegment> _written = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly string _openFolder;
    private readonly TimeSpan? _interval;
    private readonly Action<string, Exception> _onFailure;
    private readonly Func<string?> _fault;
    private TaskCompletionSource _pass = NewPass();
    private int _wakeRequested;
    private int _folderUnsynced;
    private volatile bool _completed;
    private Task _run = Task.CompletedTask;

    /// <param name="interval">Null: sync as soon as there is something to sync (<c>always</c>).</param>
    /// <param name="onFailure">Faults the spool: after a failed sync the page cache cannot be trusted.</param>
    /// <param name="fault">The spool's fault, if any: a pass that ends while the spool is faulted promises nothing.</param>
    public SpoolSyncer(string openFolder, TimeSpan? interval, Action<string, Exception> onFailure, Func<string?> fault)
    {
        _openFolder = openFolder;
        _interval = interval;
        _onFailure = onFailure;
        _fault = fault;
    }

    public Task Completion => _run;

    // It blocks on the disk by design, so it gets a thread of its own instead of borrowing a thread-pool thread.
    public void Start() =>
        _run = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>A segment file was created: the next pass syncs the folder that names it.</summary>
    public void Created() => Volatile.Write(ref _folderUnsynced, 1);

    /// <summary>
    /// Called after a copy into <paramref name="segment"/> has ended. With <c>always</c>, completes once a sync that
    /// began after the copy has ended (faulted when it failed); with <c>interval</c>, at once.
    /// </summary>
    public Task Written(OpenSegment segment)
    {
        if (segment.MarkUnsynced())
        {
            _written.Enqueue(segment);
        }
        if (_interval is not null)
        {
            return Task.CompletedTask;
        }
        // Read after the mark: a pass that takes this one swaps it out before it takes the marked segments.
        var pass = Volatile.Read(ref _pass).Task;
        if (Interlocked.Exchange(ref _wakeRequested, 1) == 0)
        {
            _wake.Release();
        }
        return pass;
    }

    /// <summary>No more writes come; a last pass syncs what is left and the thread ends.</summary>
    public void Complete()
    {
        _completed = true;
        _wake.Release();
    }

    private void Run()
    {
        while (!_completed)
        {
            if (_interval is { } interval)
            {
                _wake.Wait(interval);
            }
            else
            {
                _wake.Wait();
                Interlocked.Exchange(ref _wakeRequested, 0);
            }
            Pass();
        }
        Pass();
    }

    /// <summary>One sync of the folder (when a file was created) and of every segment written since the last pass.</summary>
    private void Pass()
    {
        var pass = Interlocked.Exchange(ref _pass, NewPass());
        try
        {
            if (Interlocked.Exchange(ref _folderUnsynced, 0) == 1)
            {
                Sync(_openFolder, () => DirectorySync.Flush(_openFolder));
            }
            var count = _written.Count;
            for (var i = 0; i < count && _written.TryDequeue(out var segment); i++)
            {
                segment.ClearUnsynced(); // before the sync: a write after this is marked (and synced) again
                Sync(segment.Id.Key, segment.Sync);
            }
        }
        finally
        {
            if (_fault() is { } fault)
            {
                pass.TrySetException(new SpoolWriteException(fault));
            }
            else
            {
                pass.TrySetResult();
            }
        }
    }

    private void Sync(string what, Action sync)
    {
        try
        {
            sync();
        }
        catch (ObjectDisposedException)
        {
            // Sealed meanwhile: the seal's own sync made it durable (or failed, and faulted the spool).
        }
        catch (Exception ex)
        {
            _onFailure($"Syncing {what} failed: {ex.Message}", ex);
        }
    }

    private static TaskCompletionSource NewPass() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
