using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Sinks;

/// <summary>
/// Delivers the spool's sealed segments to one destination, oldest first, off the request path, and acknowledges
/// each one it delivered. A subclass says how one segment is delivered (one round of attempts) and what a failure
/// means; this class keeps the order, the pacing, the status and the waiters. After a failed round the segment stays
/// first and is tried again after a growing pause, which a drain (a flush, shutdown) cuts short.
/// </summary>
public abstract class Sink : BackgroundService, IDeliveryStatus
{
    private readonly Lock _lock = new();
    private readonly List<(long UpToSequence, TaskCompletionSource<DrainResult> Completion)> _drainWaiters = [];
    private readonly Func<int, TimeSpan> _pauseAfter;
    private readonly TrackMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private TaskCompletionSource _drainRequested = NewSignal();
    private long _drainRequests;
    private DateTimeOffset? _lastSuccessAt;
    private int _consecutiveFailures;
    private string? _lastError;
    private long _droppedEvents;
    private string? _lastDrop;

    /// <param name="name">The sink's name in status, metrics, logs and its spool cursor.</param>
    /// <param name="takes">Which streams it takes (<see cref="SpoolLog.Subscribe"/>).</param>
    /// <param name="maxBacklogBytes">Past this backlog its oldest segments are dropped for it (<see cref="OnBacklogDropped"/>).</param>
    /// <param name="pauseAfter">The pause after that many failed rounds in a row.</param>
    protected Sink(
        SpoolLog spool, string name, Func<string, bool> takes, long? maxBacklogBytes, Func<int, TimeSpan> pauseAfter,
        TrackMetrics metrics, TimeProvider time, ILogger logger)
    {
        Cursor = spool.Subscribe(name, takes, maxBacklogBytes, drop => OnBacklogDropped(drop));
        _pauseAfter = pauseAfter;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        metrics.ObserveSinkBacklog(Name, () => Cursor.Backlog is var backlog ? (backlog.Events, backlog.Bytes) : default);
    }

    public string Name => Cursor.Sink;

    protected SpoolCursor Cursor { get; }

    /// <summary>How many segments may be in delivery at once (acknowledged in order all the same).</summary>
    protected virtual int Concurrency => 1;

    /// <summary>On shutdown, go on retrying failed rounds until the host's timeout (false: stop at the first failure).</summary>
    protected virtual bool RetriesOnStop => true;

    /// <summary>One round of attempts at the rest of <paramref name="segment"/>; throws when the round failed.</summary>
    protected abstract Task DeliverAsync(SealedSegment segment, CancellationToken cancellationToken);

    /// <summary>What a failed round means: a short reason, a description, and whether retrying soon may help.</summary>
    protected abstract SinkFailure Describe(Exception exception);

    /// <summary>The spool dropped the rest of a segment for this sink, its backlog being past its bound.</summary>
    protected virtual void OnBacklogDropped(SpoolDrop drop) =>
        Dropped(drop.Events, "backlog_full", $"the backlog passed its bound: {drop.Events} events of {drop.Segment.Key}");

    /// <summary>Events this sink will never deliver: counted, and the last one shown in status.</summary>
    protected void Dropped(long events, string reason, string description)
    {
        _metrics.Dropped(Name, events, reason);
        lock (_lock)
        {
            _droppedEvents += events;
            _lastDrop = $"{reason}: {description}";
        }
    }

    public SinkStatus Status()
    {
        var backlog = Cursor.Backlog;
        lock (_lock)
        {
            return new SinkStatus(Name, backlog.Segments, backlog.Events, backlog.Bytes,
                backlog.OldestSealedAt is { } oldest ? Math.Max(0, (_time.GetUtcNow() - oldest).TotalSeconds) : null,
                _lastSuccessAt, _consecutiveFailures, _lastError, _droppedEvents, _lastDrop);
        }
    }

    /// <summary>Segments waiting for this sink, oldest first.</summary>
    public IReadOnlyList<SealedSegment> Pending() => Cursor.Pending();

    /// <summary>
    /// Waits until every segment sealed so far that this sink takes is delivered (success), or until a round fails
    /// (they stay and are retried). Asking also cuts short the pause after a failure: a drain means "try now".
    /// </summary>
    public Task<DrainResult> DrainAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (Cursor.Pending() is not [.., var last])
            {
                return Task.FromResult(DrainResult.Done);
            }
            var waiter = (last.Sequence, new TaskCompletionSource<DrainResult>(TaskCreationOptions.RunContinuationsAsynchronously));
            _drainWaiters.Add(waiter);
            _drainRequests++;
            Fire(ref _drainRequested);
            return WaitAsync(waiter, cancellationToken);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var inFlight = new List<Delivery>();
        var setAside = new List<Task>();
        try
        {
            await DeliverInOrderAsync(inFlight, setAside, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            // Stopped: what is in flight is cancelled; it stays unacknowledged and is delivered again on the next start.
            await Task.WhenAll([.. inFlight.Select(delivery => delivery.Task), .. setAside]).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The producers have stopped and sealed their last batches (they stop first): deliver what is left until it
        // is done or the host's shutdown timeout ends; what is left stays in the spool for the next start.
        try
        {
            while (!(await DrainAsync(cancellationToken)).Succeeded && RetriesOnStop)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), _time, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
        if (Cursor.Backlog is { Segments: > 0 } left)
        {
            _logger.LogWarning("Sink {Sink} stops with {Segments} batches ({Events} events) not delivered; they stay in the spool for the next start",
                Name, left.Segments, left.Events);
        }
        await base.StopAsync(cancellationToken);
    }

    /// <summary>
    /// Keeps up to <see cref="Concurrency"/> segments in delivery, oldest first, and acknowledges each once it and
    /// every one before it are delivered, so the cursor never passes a segment that is not. When the oldest fails, the
    /// newer deliveries are set aside (whatever they do, they are delivered again later, under the same keys) and only
    /// the oldest is tried, after the pause, until it succeeds.
    /// </summary>
    private async Task DeliverInOrderAsync(List<Delivery> inFlight, List<Task> setAside, CancellationToken stoppingToken)
    {
        Task<SealedSegment>? next = null;
        SealedSegment? last = null;
        while (true)
        {
            var window = ConsecutiveFailures > 0 ? 1 : Concurrency;
            while (inFlight.Count < window)
            {
                next ??= Cursor.NextAsync(last, stoppingToken);
                if (!next.IsCompleted && inFlight.Count > 0)
                {
                    break;
                }
                last = await next;
                next = null;
                inFlight.Add(new Delivery(last, DeliverAsync(last, stoppingToken)));
            }

            var oldest = inFlight[0];
            if (next is not null && inFlight.Count < window)
            {
                await Task.WhenAny(oldest.Task, next); // a new segment may join the window before the oldest is done
                if (!oldest.Task.IsCompleted)
                {
                    continue;
                }
            }
            try
            {
                await oldest.Task;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                setAside.RemoveAll(task => task.IsCompleted);
                setAside.AddRange(inFlight.Skip(1).Select(delivery => delivery.Task));
                inFlight.Clear();
                next = null;
                last = oldest.Segment;
                await AfterFailedRoundAsync(oldest.Segment, ex, stoppingToken);
                // Tried again, unless the cursor has passed it meanwhile (a bounded backlog dropped it).
                inFlight.Add(oldest with
                {
                    Task = Cursor.EventsDone(oldest.Segment) < oldest.Segment.Events ? DeliverAsync(oldest.Segment, stoppingToken) : Task.CompletedTask,
                });
                continue;
            }
            inFlight.RemoveAt(0);
            Cursor.Acknowledge(oldest.Segment, oldest.Segment.Events);
            MarkDelivered();
        }
    }

    private async Task AfterFailedRoundAsync(SealedSegment segment, Exception ex, CancellationToken stoppingToken)
    {
        var failure = Describe(ex);
        var (failures, drainRequests) = MarkFailed(segment, failure.Description);
        var pause = _pauseAfter(failures);
        if (failure.Transient)
        {
            _logger.LogWarning("Sink {Sink}: delivery of {Key} failed ({Reason}); retrying in {Pause}", Name, segment.Key, failure.Description, pause);
        }
        else
        {
            // Retrying soon will not help (access denied, a wrong key): loud, but the events are kept.
            _logger.LogError(ex, "Sink {Sink}: delivery of {Key} failed and needs attention: {Reason}; retrying in {Pause}",
                Name, segment.Key, failure.Description, pause);
        }
        await PauseAsync(pause, drainRequests, stoppingToken);
    }

    private int ConsecutiveFailures
    {
        get
        {
            lock (_lock)
            {
                return _consecutiveFailures;
            }
        }
    }

    /// <summary>A segment being delivered, and the round delivering it.</summary>
    private sealed record Delivery(SealedSegment Segment, Task Task);

    private void MarkDelivered()
    {
        var position = Cursor.Position;
        lock (_lock)
        {
            _lastSuccessAt = _time.GetUtcNow();
            _consecutiveFailures = 0;
            _lastError = null;
            _drainWaiters.RemoveAll(waiter =>
            {
                if (waiter.UpToSequence >= position.Sequence)
                {
                    return false;
                }
                waiter.Completion.TrySetResult(DrainResult.Done);
                return true;
            });
        }
    }

    /// <summary>Records a failed round and tells every waiting drain. Returns what <see cref="PauseAsync"/> needs.</summary>
    private (int ConsecutiveFailures, long DrainRequests) MarkFailed(SealedSegment segment, string error)
    {
        var pending = Cursor.Pending();
        lock (_lock)
        {
            _consecutiveFailures++;
            _lastError = error;
            var failure = new DrainResult(false, pending, $"Delivery of {segment.Key} to {Name} failed: {error}");
            foreach (var waiter in _drainWaiters)
            {
                waiter.Completion.TrySetResult(failure);
            }
            _drainWaiters.Clear();
            return (_consecutiveFailures, _drainRequests);
        }
    }

    /// <summary>
    /// Waits out the pause after a failed round, or less if a drain was requested since that round failed
    /// (<paramref name="drainRequestsAtFailure"/>, so a request in between is not missed).
    /// </summary>
    private async Task PauseAsync(TimeSpan pause, long drainRequestsAtFailure, CancellationToken cancellationToken)
    {
        Task drainRequested;
        lock (_lock)
        {
            if (_drainRequests != drainRequestsAtFailure)
            {
                return;
            }
            drainRequested = _drainRequested.Task;
        }

        using var pauseOver = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await Task.WhenAny(drainRequested, Task.Delay(pause, _time, pauseOver.Token));
        await pauseOver.CancelAsync();
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>A caller that stops waiting (a flush that timed out) leaves no waiter behind.</summary>
    private async Task<DrainResult> WaitAsync((long, TaskCompletionSource<DrainResult> Completion) waiter, CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.Register(() =>
        {
            lock (_lock)
            {
                _drainWaiters.Remove(waiter);
            }
            waiter.Completion.TrySetCanceled(cancellationToken);
        });
        return await waiter.Completion.Task;
    }

    private static void Fire(ref TaskCompletionSource signal)
    {
        signal.TrySetResult();
        signal = NewSignal();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <param name="Reason">Short and low-cardinality, for metrics: <c>throttled</c>, <c>timeout</c>, <c>unauthorized</c>, …</param>
/// <param name="Transient">Retrying soon may help (5xx, 429, timeouts, connection faults).</param>
public sealed record SinkFailure(string Reason, string Description, bool Transient);

/// <param name="Succeeded">Every segment the drain covered is delivered.</param>
/// <param name="StillQueued">Segments not yet delivered (when the drain failed), oldest first.</param>
/// <param name="Error">Why the drain failed.</param>
public sealed record DrainResult(bool Succeeded, IReadOnlyList<SealedSegment> StillQueued, string? Error)
{
    public static readonly DrainResult Done = new(true, [], null);
}
