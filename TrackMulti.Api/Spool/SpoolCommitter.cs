using System.Threading.Channels;
using TrackMulti.Api.Batching;
using TrackMulti.Api.Storage;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The disk side of the writer: on its own thread it writes the chunks the writer gathered, fsyncs once for everything
/// that arrived meanwhile (group commit), and only then acknowledges those requests. Because the writer keeps
/// gathering while this thread waits for the disk, an fsync never stalls intake. Seals run here too, in order with the
/// chunks, so a segment is renamed only after everything in it is durable.
/// </summary>
internal sealed class SpoolCommitter(SpoolDirectory spool, UploadQueue uploads, ILogger logger)
{
    private readonly Channel<SpoolWork> _work = Channel.CreateUnbounded<SpoolWork>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly List<PendingAppend> _written = [];
    private readonly List<PendingAppend> _durable = [];
    private OpenSegment? _segment;
    private bool _unsynced;
    private long _roomHint = OpenSegment.DefaultRoom; // the last sealed segment's size: the next one's first room
    private string? _fault;

    /// <summary>Set when the spool can no longer be trusted (a write that could not be rolled back, a failed fsync or
    /// seal): intake stops and the liveness check fails, so the Api is restarted and recovery repairs the spool.</summary>
    public string? Fault => Volatile.Read(ref _fault);

    public void Post(SpoolWork work) => _work.Writer.TryWrite(work);

    /// <summary>No more work will come; <see cref="Run"/> finishes what was posted and returns.</summary>
    public void Complete() => _work.Writer.TryComplete();

    public void Run()
    {
        try
        {
            while (WaitForWork())
            {
                while (_work.Reader.TryRead(out var work))
                {
                    switch (work)
                    {
                        case ChunkWork chunk:
                            Write(chunk);
                            break;
                        case SealWork seal:
                            Seal(seal);
                            break;
                    }
                }
                SyncWritten();
                Acknowledge();
            }
        }
        finally
        {
            // Whatever is still open stays in open/ and is sealed by recovery on the next start.
            _segment?.Dispose();
        }
    }

    private bool WaitForWork()
    {
        var ready = _work.Reader.WaitToReadAsync();
        return ready.IsCompletedSuccessfully ? ready.Result : ready.AsTask().GetAwaiter().GetResult();
    }

    private void Write(ChunkWork chunk)
    {
        try
        {
            if (Fault is { } fault)
            {
                throw new SpoolWriteException(fault);
            }
            if (_segment?.Sequence != chunk.Segment.Sequence)
            {
                // The previous segment was sealed (or its seal failed and it waits for recovery): start this one.
                _segment?.Dispose();
                _segment = OpenSegment.Create(spool, chunk.Segment.Sequence, chunk.Segment.Key, _roomHint);
            }
            _segment.Write(chunk.Lines, chunk.Appends.Count);
            _written.AddRange(chunk.Appends);
            _unsynced = true;
        }
        catch (Exception ex)
        {
            // Nothing of this chunk is in the file (it was rolled back), so none of it is acknowledged.
            logger.LogError(ex, "Spool write failed; refusing {Events} events", chunk.Appends.Count);
            var refusal = ex as SpoolWriteException ?? new SpoolWriteException($"The spool could not store the event: {ex.Message}");
            foreach (var append in chunk.Appends)
            {
                append.Completion.TrySetException(refusal);
            }
            if (_segment is { IsBroken: true })
            {
                SetFault($"Segment {_segment.Key} could not be rolled back after a failed write.");
            }
        }
    }

    private void Seal(SealWork seal)
    {
        if (seal.LastChunk is { } lastChunk)
        {
            Write(lastChunk);
        }

        SealedBatch? sealedBatch = null;
        if (seal.Segment is { } planned && _segment?.Sequence == planned.Sequence && Fault is null)
        {
            var segment = _segment;
            // One sync makes the last lines durable and fixes the file's final size; after it the file is the object.
            if (SyncWritten(sealing: true))
            {
                _segment = null;
                try
                {
                    if (segment.Events > 0)
                    {
                        _roomHint = segment.Bytes;
                        sealedBatch = segment.MoveToSealed(spool) with { Origins = planned.Origins };
                        uploads.Enqueue(sealedBatch);
                        logger.LogInformation("Sealed batch {Key} with {Events} events", sealedBatch.Key, sealedBatch.EventCount);
                    }
                    else
                    {
                        segment.Delete();
                    }
                }
                catch (Exception ex)
                {
                    // The events are durable in open/; recovery on the next start seals them under the same key.
                    SetFault($"The spool could not seal {segment.Key}: {ex.Message}");
                    logger.LogCritical(ex, "{Fault}", Fault);
                }
            }
        }
        else
        {
            SyncWritten();
        }

        if (seal.Trigger is { } trigger)
        {
            trigger.Sealed = sealedBatch;
        }
        if (seal.Flush is { } flush)
        {
            if (Fault is { } fault && sealedBatch is null)
            {
                flush.TrySetException(new SpoolWriteException(fault));
            }
            else
            {
                flush.TrySetResult(new AppendResult(0, sealedBatch));
            }
        }
    }

    /// <summary>
    /// One sync for everything written since the last; those requests become acknowledgeable. When
    /// <paramref name="sealing"/>, the sync also cuts the segment's room (and runs even with nothing new written).
    /// False when the sync failed: the spool is faulted and those requests are refused.
    /// </summary>
    private bool SyncWritten(bool sealing = false)
    {
        if ((_unsynced || sealing) && _segment is { } segment)
        {
            try
            {
                if (sealing)
                {
                    segment.Finish();
                }
                else
                {
                    segment.Sync();
                }
            }
            catch (Exception ex)
            {
                // After a failed sync the page cache cannot be trusted: refuse, and stop until a restart recovers.
                SetFault($"Syncing {segment.Key} failed: {ex.Message}");
                logger.LogCritical(ex, "{Fault}", Fault);
                var refusal = new SpoolWriteException(Fault!);
                foreach (var append in _written)
                {
                    append.Completion.TrySetException(refusal);
                }
                _written.Clear();
                _unsynced = false;
                if (sealing)
                {
                    // Closed now, so recovery can open it; it stays in open/.
                    segment.Dispose();
                    _segment = null;
                }
                return false;
            }
        }
        _unsynced = false;
        _durable.AddRange(_written);
        _written.Clear();
        return true;
    }

    private void Acknowledge()
    {
        foreach (var append in _durable)
        {
            append.Completion.TrySetResult(new AppendResult(append.OpenEvents, append.Sealed));
        }
        _durable.Clear();
    }

    private void SetFault(string fault) => Interlocked.CompareExchange(ref _fault, fault, null);
}

/// <summary>What the writer hands the committer, in order.</summary>
internal abstract record SpoolWork;

/// <summary>Lines gathered from one group of requests, for one segment.</summary>
internal sealed record ChunkWork(SegmentPlan Segment, byte[] Lines, List<PendingAppend> Appends) : SpoolWork;

/// <summary>Seal <see cref="Segment"/> (null: nothing open) once everything before it is durable.</summary>
/// <param name="LastChunk">Lines for the segment not yet handed over, written first.</param>
/// <param name="Trigger">The request whose event filled the batch: its answer names the sealed batch.</param>
/// <param name="Flush">A flush waiting for the seal.</param>
internal sealed record SealWork(
    SegmentPlan? Segment, ChunkWork? LastChunk, PendingAppend? Trigger, TaskCompletionSource<AppendResult>? Flush) : SpoolWork;

/// <summary>A segment as the writer plans it: its sequence and key, and what it has been given so far.</summary>
internal sealed class SegmentPlan(long sequence, string key)
{
    public long Sequence { get; } = sequence;
    public string Key { get; } = key;
    public int Events { get; set; }
    public long Bytes { get; set; }

    /// <summary>Trace contexts of the first requests into this segment (bounded), for the upload span's links.</summary>
    public List<System.Diagnostics.ActivityContext> Origins { get; } = [];
}

/// <summary>An append waiting to be acknowledged.</summary>
internal sealed class PendingAppend(TaskCompletionSource<AppendResult> completion, int openEvents)
{
    public TaskCompletionSource<AppendResult> Completion { get; } = completion;
    public int OpenEvents { get; set; } = openEvents;
    public SealedBatch? Sealed { get; set; }
}
