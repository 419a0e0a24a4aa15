using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Storage;

/// <summary>
/// Sealed batches waiting for S3, in sealing order, and the callers waiting on them. The uploader works from the head;
/// a batch leaves only when S3 confirmed it, so a failure keeps it (with its key) for the next round.
/// </summary>
public sealed class UploadQueue(TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<SealedBatch> _batches = new();
    private readonly List<(long UpToSequence, TaskCompletionSource<DrainResult> Completion)> _drainWaiters = [];

    // Two signals, so new batches wake an idle uploader but never cut short the pause after a failure
    // (that would hammer a failing S3); only a drain request (a flush, shutdown) means "try again now".
    private TaskCompletionSource _workArrived = NewSignal();
    private TaskCompletionSource _drainRequested = NewSignal();
    private long _drainRequests;

    private int _queuedEvents;
    private long _queuedBytes;
    private DateTimeOffset? _lastUploadAt;
    private int _consecutiveFailures;
    private string? _lastError;

    public void Enqueue(SealedBatch batch)
    {
        lock (_lock)
        {
            _batches.AddLast(batch);
            _queuedEvents += batch.EventCount;
            Interlocked.Add(ref _queuedBytes, batch.ByteCount);
            Fire(ref _workArrived);
        }
    }

    /// <summary>
    /// Waits until every batch sealed so far is in S3 (success), or until an upload round fails (the batches stay
    /// queued and are retried). Asking also cuts short the uploader's pause after a failure: a flush means "try now".
    /// </summary>
    public Task<DrainResult> DrainAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_batches.Last is null)
            {
                return Task.FromResult(DrainResult.Done);
            }

            var completion = new TaskCompletionSource<DrainResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            var waiter = (_batches.Last.Value.Sequence, completion);
            _drainWaiters.Add(waiter);
            _drainRequests++;
            Fire(ref _drainRequested);
            Fire(ref _workArrived);
            return WaitAsync(waiter, cancellationToken);
        }
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

    /// <summary>Bytes of sealed batches waiting for S3 (read without the lock, for the writer's spool bound).</summary>
    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    public UploadQueueStatus Status()
    {
        lock (_lock)
        {
            return new UploadQueueStatus(_batches.Count, _queuedEvents, QueuedBytes, _lastUploadAt, _consecutiveFailures, _lastError);
        }
    }

    public IReadOnlyList<SealedBatch> Snapshot()
    {
        lock (_lock)
        {
            return [.. _batches];
        }
    }

    internal SealedBatch? Peek()
    {
        lock (_lock)
        {
            return _batches.First?.Value;
        }
    }

    /// <summary>Completes when there is a batch to upload.</summary>
    internal Task WaitForWorkAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _batches.Count > 0 ? Task.CompletedTask : _workArrived.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Waits out the pause after a failed round, or less if a drain was requested since that round failed
    /// (<paramref name="drainRequestsAtFailure"/>, from <see cref="MarkFailed"/>, so a request in between is not missed).
    /// </summary>
    internal async Task PauseAsync(TimeSpan pause, long drainRequestsAtFailure, CancellationToken cancellationToken)
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
        await Task.WhenAny(drainRequested, Task.Delay(pause, time, pauseOver.Token));
        await pauseOver.CancelAsync();
        cancellationToken.ThrowIfCancellationRequested();
    }

    internal void MarkUploaded(SealedBatch batch)
    {
        lock (_lock)
        {
            if (_batches.First?.Value != batch)
            {
                throw new InvalidOperationException($"Batch {batch.Key} is not at the head of the upload queue.");
            }

            _batches.RemoveFirst();
            _queuedEvents -= batch.EventCount;
            Interlocked.Add(ref _queuedBytes, -batch.ByteCount);
            _lastUploadAt = time.GetUtcNow();
            _consecutiveFailures = 0;
            _lastError = null;

            _drainWaiters.RemoveAll(waiter =>
            {
                if (waiter.UpToSequence > batch.Sequence)
                {
                    return false;
                }
                waiter.Completion.TrySetResult(DrainResult.Done);
                return true;
            });
        }
    }

    /// <summary>Records a failed round and tells every waiting drain. Returns what <see cref="PauseAsync"/> needs.</summary>
    internal (int ConsecutiveFailures, long DrainRequests) MarkFailed(SealedBatch batch, string error)
    {
        lock (_lock)
        {
            _consecutiveFailures++;
            _lastError = error;
            var failure = new DrainResult(false, [.. _batches], $"Upload of {batch.Key} failed: {error}");
            foreach (var waiter in _drainWaiters)
            {
                waiter.Completion.TrySetResult(failure);
            }
            _drainWaiters.Clear();
            return (_consecutiveFailures, _drainRequests);
        }
    }

    private static void Fire(ref TaskCompletionSource signal)
    {
        signal.TrySetResult();
        signal = NewSignal();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <param name="Succeeded">Every batch the drain covered is in S3.</param>
/// <param name="StillQueued">Batches not yet confirmed (when the drain failed), oldest first.</param>
/// <param name="Error">Why the drain failed.</param>
public sealed record DrainResult(bool Succeeded, IReadOnlyList<SealedBatch> StillQueued, string? Error)
{
    public static readonly DrainResult Done = new(true, [], null);
}

public sealed record UploadQueueStatus(
    int Batches, int Events, long Bytes, DateTimeOffset? LastUploadAt, int ConsecutiveFailures, string? LastError);
