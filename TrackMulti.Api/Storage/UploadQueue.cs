using TrackMulti.Api.Batching;

namespace TrackMulti.Api.Storage;

/// <summary>
/// Sealed batches waiting for S3, in sealing order, and the people waiting on them. The uploader works from the head;
/// a batch leaves only when S3 confirmed it, so a failure keeps it (with its key) for the next round.
/// </summary>
public sealed class UploadQueue(TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<SealedBatch> _batches = new();
    private readonly List<(long UpToSequence, TaskCompletionSource<DrainResult> Completion)> _drainWaiters = [];
    private TaskCompletionSource _signal = NewSignal();
    private int _queuedEvents;
    private DateTimeOffset? _lastUploadAt;
    private int _consecutiveFailures;
    private string? _lastError;

    public void Enqueue(SealedBatch batch)
    {
        lock (_lock)
        {
            _batches.AddLast(batch);
            _queuedEvents += batch.EventCount;
            WakeUploader();
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
            _drainWaiters.Add((_batches.Last.Value.Sequence, completion));
            WakeUploader();
            return completion.Task.WaitAsync(cancellationToken);
        }
    }

    public UploadQueueStatus Status()
    {
        lock (_lock)
        {
            return new UploadQueueStatus(_batches.Count, _queuedEvents, _lastUploadAt, _consecutiveFailures, _lastError);
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

    /// <summary>Completes when a batch is enqueued or a drain is requested.</summary>
    internal Task WaitForWorkAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _batches.Count > 0 ? Task.CompletedTask : _signal.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Waits out the pause after a failed round, or less if someone asks for a drain.</summary>
    internal async Task PauseAsync(TimeSpan pause, CancellationToken cancellationToken)
    {
        Task signal;
        lock (_lock)
        {
            signal = _signal.Task;
        }
        using var pauseOver = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(pause, time, pauseOver.Token);
        await Task.WhenAny(signal, delay);
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

    internal void MarkFailed(SealedBatch batch, string error)
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
        }
    }

    internal int ConsecutiveFailures
    {
        get
        {
            lock (_lock)
            {
                return _consecutiveFailures;
            }
        }
    }

    private void WakeUploader()
    {
        _signal.TrySetResult();
        _signal = NewSignal();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <param name="Succeeded">Every batch the drain covered is in S3.</param>
/// <param name="StillQueued">Batches not yet confirmed (when the drain failed), oldest first.</param>
public sealed record DrainResult(bool Succeeded, IReadOnlyList<SealedBatch> StillQueued, string? Error)
{
    public static readonly DrainResult Done = new(true, [], null);
}

public sealed record UploadQueueStatus(
    int Batches, int Events, DateTimeOffset? LastUploadAt, int ConsecutiveFailures, string? LastError);
