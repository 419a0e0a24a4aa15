using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Sinks.Fme;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Replay;

/// <summary>
/// Delivers a window of the record again, from S3 to FME: every row whose <c>receivedAt</c> lies in <c>[from, to)</c>,
/// read from the objects in whatever format and partitioning they were written, posted by FME's posting rules
/// (<see cref="FmeSender"/>). Progress is kept on disk after every post (<see cref="ReplayStore"/>), so a replay goes on
/// after a restart, on whichever replica locks it first; what was in flight is sent again (at least once, as live).
/// Live forwarding comes first: a replay posts only while the FME sink keeps up (nothing waiting beyond the batch in
/// delivery, its last round a success), and replays take turns, one object at a time, so at most one replay post is
/// under way beside the live sink's.
/// </summary>
public sealed class ReplayService : BackgroundService
{
    /// <summary>The sinks a replay may deliver to.</summary>
    public static readonly IReadOnlyList<string> Sinks = [FmeSink.SinkName];

    /// <summary>
    /// How far a row's <c>receivedAt</c> may lie from its batch's key time beyond the batch's age: the moment between
    /// reading the clock for a request and appending its rows, and the seal's own.
    /// </summary>
    private static readonly TimeSpan KeyMargin = TimeSpan.FromMinutes(1);

    /// <summary>How long a live sink that does not keep up is waited for between looks.</summary>
    private static readonly TimeSpan LiveLook = TimeSpan.FromMilliseconds(200);

    private readonly ReplayStore _store;
    private readonly IObjectStore _objects;
    private readonly PipelineFlush _flush;
    private readonly IRecord _record;
    private readonly FmeSender? _sender;
    private readonly FmeSink? _live;
    private readonly FmeOptions _fme;
    private readonly TimeSpan _lookback;
    private readonly TimeSpan _scanEvery;
    private readonly TrackMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<ReplayService> _logger;
    private readonly ConcurrentDictionary<string, Task> _running = new();
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();

    public ReplayService(
        ReplayStore store, IObjectStore objects, IEventPipeline pipeline, PipelineFlush flush, IRecord record, IServiceProvider services,
        IOptions<FmeOptions> fme, IOptions<SpoolOptions> spool, TrackMetrics metrics, TimeProvider time, ILogger<ReplayService> logger)
    {
        _store = store;
        _objects = objects;
        _flush = flush;
        _record = record;
        // Both are there only while FME forwarding is on.
        _sender = services.GetService<FmeSender>();
        _live = services.GetService<FmeSink>();
        _fme = fme.Value;
        // A batch holds rows from its key's time until its seal: at most its age, and a moment for the seal itself.
        _lookback = pipeline.MaxBatchAge + KeyMargin;
        _scanEvery = TimeSpan.FromSeconds(spool.Value.AdoptSeconds);
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    public ReplayStatus? Find(string id) => _store.Find(id)?.Status;

    public IReadOnlyList<ReplayStatus> All() => [.. _store.All().Select(progress => progress.Status)];

    /// <summary>Checks the request, makes sure S3 holds every row of the window received so far, plans and starts it.</summary>
    public async Task<ReplayStart> StartAsync(ReplayRequest request, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (!Sinks.Contains(request.Sink))
        {
            return ReplayStart.Invalid(ReplayRequest.SinkField, $"Unknown sink '{request.Sink}': replays go to {string.Join(", ", Sinks)}.");
        }
        if (request.To > now)
        {
            return ReplayStart.Invalid(ReplayRequest.ToField, $"'to' may not be later than now ({now:O}): a replay reads what S3 holds.");
        }
        if (_sender is null || _fme.OffBecause is { } off)
        {
            return ReplayStart.Refused(ReplayRefusal.SinkOff, $"The FME sink is off ({_fme.OffBecause ?? "not configured"}): nothing can be replayed to it.");
        }
        var streams = request.Streams ?? [.. Streams.All.Where(_fme.Takes)];

        // Rows of the window may still be in an open batch, or sealed and on their way to S3 (all of S3's backlog, when
        // S3 is behind): seal and wait for them. This replica's, that is; each replica's S3 sink drains its own spool.
        if ((request.To > now - _lookback || _record.Status().BacklogSegments > 0) && await CatchUpAsync(cancellationToken) is { } behind)
        {
            return behind;
        }

        List<string> keys;
        try
        {
            var earliest = request.From - DateTimeOffset.MinValue > _lookback ? request.From - _lookback : DateTimeOffset.MinValue;
            keys = await ReplayPlan.KeysAsync(_objects, streams.Select(Streams.PrefixOf), earliest, request.To + KeyMargin, cancellationToken);
        }
        catch (Exception ex) when (S3Faults.IsTransient(ex) || ex is Amazon.Runtime.AmazonServiceException)
        {
            _logger.LogWarning(ex, "Listing {Bucket} for a replay failed", _objects.Location);
            return ReplayStart.Refused(ReplayRefusal.S3Unavailable, S3Faults.Describe(ex));
        }
        if (keys.Count == 0)
        {
            return ReplayStart.Refused(ReplayRefusal.EmptyWindow,
                $"No object in {_objects.Location} can hold a row of {string.Join(", ", streams)} received in [{request.From:O}, {request.To:O}).");
        }

        var progress = new ReplayProgress(new ReplayStatus(ReplayStore.NewId(), ReplayStates.Running, request.Sink, request.From, request.To, streams,
            keys.Count, 0, 0, 0, 0, null, now, null), 0);
        var held = _store.Create(progress, keys);
        var id = progress.Status.Id;
        _logger.LogInformation("Replay {Id} to {Sink} of {Streams} received in [{From:O}, {To:O}): {Objects} objects to read",
            id, request.Sink, string.Join(", ", streams), request.From, request.To, keys.Count);
        Run(progress, held, startedBy: Activity.Current?.Context);
        return new ReplayStart(progress.Status, ReplayRefusal.None, null, null);
    }

    /// <summary>Seals every open batch and waits for S3 to confirm every sealed one; a refusal when it cannot.</summary>
    private async Task<ReplayStart?> CatchUpAsync(CancellationToken cancellationToken)
    {
        var flushed = await _flush.RunAsync(cancellationToken);
        return flushed.Failure switch
        {
            FlushFailure.None => null,
            FlushFailure.ShuttingDown => ReplayStart.Refused(ReplayRefusal.ShuttingDown, flushed.Detail!),
            FlushFailure.SpoolError => ReplayStart.Refused(ReplayRefusal.SpoolError, flushed.Detail!),
            _ => ReplayStart.Refused(ReplayRefusal.RecordBehind, $"S3 does not hold every row of the window yet: {flushed.Detail} Try again once S3 has them."),
        };
    }

    /// <summary>At start and every <c>SPOOL_ADOPT_SECONDS</c>: takes up replays left running by a process that is gone.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_sender is null)
        {
            if (_store.All().Any(progress => progress.Status.State == ReplayStates.Running))
            {
                _logger.LogWarning("Replays are waiting to go on, but FME forwarding is off here ({Why})", _fme.OffBecause);
            }
            return;
        }
        using var timer = new PeriodicTimer(_scanEvery, _time);
        do
        {
            try
            {
                foreach (var progress in _store.All())
                {
                    if (progress.Status.State == ReplayStates.Running && !_running.ContainsKey(progress.Status.Id)
                        && _store.TryLock(progress.Status.Id) is { } held)
                    {
                        // Read again under the lock: the replica that held it may have moved it on before it went.
                        var current = _store.Find(progress.Status.Id)!;
                        _logger.LogInformation("Replay {Id} goes on: {Done} of {Objects} objects done, {Events} events sent",
                            current.Status.Id, current.Status.ObjectsDone, current.Status.Objects, current.Status.Events);
                        Run(current, held, startedBy: null);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _logger.LogError(ex, "Looking for replays to take up failed; looking again in {Every}", _scanEvery);
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_running.Values).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await base.StopAsync(cancellationToken);
    }

    private void Run(ReplayProgress progress, IDisposable held, ActivityContext? startedBy)
    {
        var id = progress.Status.Id;
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _running[id] = Task.Run(async () =>
        {
            await registered.Task; // so the entry below is in place before this one can remove it
            try
            {
                using (held)
                {
                    await RunAsync(new Replaying(progress), startedBy, _stopping.Token);
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                // Stopped: it goes on from its last post after the next start.
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Replay {Id} stopped on a fault; it goes on after the next start", id);
            }
            finally
            {
                _running.TryRemove(id, out _);
            }
        });
        registered.SetResult();
    }

    private async Task RunAsync(Replaying replay, ActivityContext? startedBy, CancellationToken stopping)
    {
        using var span = TrackTracing.StartReplay(replay.Status.Id, startedBy);
        span?.SetTag("trackmulti.replay.objects", replay.Status.Objects);
        span?.SetTag("trackmulti.replay.objects_done", replay.Status.ObjectsDone);
        var keys = _store.Plan(replay.Status.Id);
        var failedRounds = 0;
        while (replay.Status.ObjectsDone < keys.Count)
        {
            var key = keys[replay.Status.ObjectsDone];
            try
            {
                await _turn.WaitAsync(stopping);
                try
                {
                    await ReplayObjectAsync(replay, key, stopping);
                }
                finally
                {
                    _turn.Release();
                }
                failedRounds = 0;
                replay.Update(replay.Progress with { Status = replay.Status with { ObjectsDone = replay.Status.ObjectsDone + 1 }, RowsDone = 0 });
                _store.Save(replay.Progress);
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                // FME failing, however (a key it refuses too), is waited out as the live sink does; S3 refusing for
                // good (access denied, no bucket) ends the replay, a person must act.
                var fromS3 = ex is Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException;
                var error = $"{key}: {(fromS3 ? S3Faults.Describe(ex) : FmeFaults.Describe(ex))}";
                if (fromS3 && !S3Faults.IsTransient(ex))
                {
                    replay.Update(replay.Progress with { Status = replay.Status with { State = ReplayStates.Failed, LastError = error, FinishedAt = _time.GetUtcNow() } });
                    _store.Save(replay.Progress);
                    span?.SetStatus(ActivityStatusCode.Error, error);
                    _logger.LogError(ex, "Replay {Id} failed and needs attention: {Error}", replay.Status.Id, error);
                    return;
                }
                var pause = _fme.PauseAfter(++failedRounds);
                replay.Update(replay.Progress with { Status = replay.Status with { LastError = error } });
                _store.Save(replay.Progress);
                _logger.LogWarning("Replay {Id}: {Error}; retrying in {Pause}", replay.Status.Id, error, pause);
                await Task.Delay(pause, _time, stopping);
            }
        }
        replay.Update(replay.Progress with { Status = replay.Status with { State = ReplayStates.Done, FinishedAt = _time.GetUtcNow() } });
        _store.Save(replay.Progress);
        span?.SetTag("trackmulti.replay.events", replay.Status.Events);
        _logger.LogInformation("Replay {Id} done: {Events} events sent to FME, {Dropped} it cannot take",
            replay.Status.Id, replay.Status.Events, replay.Status.Dropped);
    }

    /// <summary>The rows of the window in one object, sent on from where the replay stands in it.</summary>
    private async Task ReplayObjectAsync(Replaying replay, string key, CancellationToken cancellationToken)
    {
        var stored = await _objects.ReadAsync(key, cancellationToken);
        if (stored is null)
        {
            PassOver(replay, key, "it is no longer in S3");
            return;
        }
        var stream = stored.Stream ?? Streams.OfKey(key);
        if (!replay.Status.Streams.Contains(stream))
        {
            return;
        }
        List<byte[]> rows;
        try
        {
            // Read whole first, so an object that cannot be read is told apart from FME failing.
            rows = await ReplayRows.InWindowAsync(ObjectLayout.OpenNdjson(key, stream, new MemoryStream(stored.Content, writable: false)),
                replay.Status.From, replay.Status.To, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            PassOver(replay, key, $"it cannot be read as {stream} rows ({ex.GetType().Name}: {ex.Message})");
            return;
        }
        await _sender!.SendAsync(stream, rows.ToAsyncEnumerable(), replay.Progress.RowsDone, key, [], sent =>
        {
            Count(sent);
            replay.Update(new ReplayProgress(replay.Status with
            {
                Events = replay.Status.Events + sent.Sent,
                Dropped = replay.Status.Dropped + sent.Refused + sent.WithoutKey + sent.Unreadable,
                LastError = sent.Refusal is { } refusal ? $"{key}: {refusal}" : null,
            }, sent.RowsThrough));
            _store.Save(replay.Progress);
            return true;
        }, beforePost: ct => LiveFirstAsync(replay, ct), failuresCountFor: null, cancellationToken);
    }

    private void PassOver(Replaying replay, string key, string why)
    {
        _logger.LogError("Replay {Id} passes over {Key}: {Why}", replay.Status.Id, key, why);
        replay.Update(replay.Progress with { Status = replay.Status with { ObjectsPassedOver = replay.Status.ObjectsPassedOver + 1, LastError = $"{key}: passed over, {why}" } });
    }

    /// <summary>Waits while live forwarding does not keep up: a replay never puts live events behind. Says so in its status.</summary>
    private async Task LiveFirstAsync(Replaying replay, CancellationToken cancellationToken)
    {
        while (_live is { KeepsUp: false } live)
        {
            var waiting = $"waiting for live forwarding to FME to catch up{(live.Status().LastError is { } failing ? $" (it fails: {failing})" : "")}";
            if (replay.Status.LastError != waiting)
            {
                replay.Update(replay.Progress with { Status = replay.Status with { LastError = waiting } });
                _store.Save(replay.Progress);
            }
            await Task.Delay(LiveLook, _time, cancellationToken);
        }
    }

    private void Count(FmeSent sent)
    {
        foreach (var (state, rows) in new[] { ("sent", sent.Sent), ("refused", sent.Refused), ("no_key", sent.WithoutKey), ("unreadable", sent.Unreadable) })
        {
            if (rows > 0)
            {
                _metrics.Replayed(state, rows);
            }
        }
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

    /// <summary>A running replay's progress, replaced whole as it moves on.</summary>
    private sealed class Replaying(ReplayProgress progress)
    {
        public ReplayProgress Progress { get; private set; } = progress;

        public ReplayStatus Status => Progress.Status;

        public void Update(ReplayProgress next) => Progress = next;
    }
}

/// <summary>What <see cref="ReplayService.StartAsync"/> did: the replay started, or why not.</summary>
/// <param name="Errors">What is wrong with the request, by field (with <see cref="ReplayRefusal.Invalid"/>).</param>
public sealed record ReplayStart(ReplayStatus? Started, ReplayRefusal Refusal, string? Detail, Dictionary<string, string[]>? Errors)
{
    public static ReplayStart Invalid(string field, string error) => new(null, ReplayRefusal.Invalid, null, new() { [field] = [error] });

    public static ReplayStart Refused(ReplayRefusal refusal, string detail) => new(null, refusal, detail, null);
}

public enum ReplayRefusal
{
    None,
    Invalid,
    SinkOff,
    EmptyWindow,
    RecordBehind,
    S3Unavailable,
    ShuttingDown,
    SpoolError,
}
