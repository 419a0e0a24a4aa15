using System.Diagnostics;
using System.Threading.Channels;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The spool's producer face. On its own thread it writes the chunks it is given, fsyncs once for everything that
/// arrived meanwhile (group commit), and only then tells each chunk's waiters. Because the producer keeps gathering
/// while this thread waits for the disk, an fsync never stalls intake. Seals run here too, in order with the chunks,
/// so a segment is renamed only after everything in it is durable, and a sealed segment is handed to
/// <see cref="SpoolLog"/>, which offers it to the sinks.
/// </summary>
public sealed class SpoolWriter
{
    private readonly Channel<SpoolWork> _work = Channel.CreateUnbounded<SpoolWork>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly List<IAppendWaiter> _written = [];
    private readonly List<IAppendWaiter> _durable = [];
    private readonly SpoolDirectory _directory;
    private readonly SpoolLog _log;
    private readonly TimeSpan? _syncInterval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private OpenSegment? _segment;
    private bool _unsynced;
    private long _lastSync;
    private long _roomHint = OpenSegment.DefaultRoom; // the last sealed segment's size: the next one's first room
    private string? _fault;
    private int _openEvents;
    private Task _run = Task.CompletedTask;

    internal SpoolWriter(SpoolDirectory directory, SpoolLog log, TimeSpan? syncInterval, TimeProvider time, ILogger logger)
    {
        _directory = directory;
        _log = log;
        _syncInterval = syncInterval;
        _time = time;
        _logger = logger;
    }

    /// <summary>Set when the spool can no longer be trusted (a write that could not be rolled back, a failed fsync or
    /// seal): intake stops and the liveness check fails, so the Api is restarted and recovery repairs the spool.</summary>
    public string? Fault => Volatile.Read(ref _fault);

    /// <summary>Events written to the open segment (durable or about to be); read from any thread.</summary>
    public int OpenEvents => Volatile.Read(ref _openEvents);

    /// <summary>Writes <paramref name="chunk"/> after everything posted before it.</summary>
    public void Post(SpoolChunk chunk) => _work.Writer.TryWrite(chunk);

    /// <summary>Seals after everything posted before it.</summary>
    public void Post(SpoolSeal seal) => _work.Writer.TryWrite(seal);

    /// <summary>No more work will come; the thread finishes what was posted and ends.</summary>
    public void Complete() => _work.Writer.TryComplete();

    /// <summary>Ends once <see cref="Complete"/> was called and everything posted is done.</summary>
    public Task Completion => _run;

    // It blocks on the disk by design, so it gets a thread of its own instead of borrowing a thread-pool thread.
    internal void Start() =>
        _run = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run()
    {
        try
        {
            while (WaitForWork())
            {
                while (_work.Reader.TryRead(out var work))
                {
                    switch (work)
                    {
                        case SpoolChunk chunk:
                            Write(chunk);
                            break;
                        case SpoolSeal seal:
                            Seal(seal);
                            break;
                    }
                }
                if (_syncInterval is null)
                {
                    SyncWritten();
                }
                else
                {
                    // Answered once the OS has it; the flush to disk follows within the interval.
                    _durable.AddRange(_written);
                    _written.Clear();
                    if (_unsynced && _time.GetElapsedTime(_lastSync) >= _syncInterval)
                    {
                        SyncWritten();
                    }
                }
                Acknowledge();
            }
            SyncWritten();
        }
        finally
        {
            // Whatever is still open stays in open/ and is sealed by recovery on the next start.
            _segment?.Dispose();
        }
    }

    /// <summary>Waits for work; with a sync interval, flushes written data to disk when it falls due meanwhile.</summary>
    private bool WaitForWork()
    {
        var ready = _work.Reader.WaitToReadAsync();
        if (ready.IsCompletedSuccessfully)
        {
            return ready.Result;
        }
        var waiting = ready.AsTask();
        if (_syncInterval is { } interval && _unsynced)
        {
            var due = interval - _time.GetElapsedTime(_lastSync);
            if (due <= TimeSpan.Zero || !waiting.Wait(due))
            {
                SyncWritten();
            }
        }
        return waiting.GetAwaiter().GetResult();
    }

    private void Write(SpoolChunk chunk)
    {
        try
        {
            if (Fault is { } fault)
            {
                throw new SpoolWriteException(fault);
            }
            if (_segment?.Id != chunk.Segment)
            {
                // The previous segment was sealed (or its seal failed and it waits for recovery): start this one.
                _segment?.Dispose();
                _segment = OpenSegment.Create(_directory, chunk.Segment, _roomHint);
            }
            _segment.Write(chunk.Lines, chunk.Events);
            _written.AddRange(chunk.Waiters);
            _unsynced = true;
            Volatile.Write(ref _openEvents, _segment.Events);
        }
        catch (Exception ex)
        {
            // Nothing of this chunk is in the file (it was rolled back), so none of it is acknowledged.
            _logger.LogError(ex, "Spool write failed; refusing {Events} events", chunk.Events);
            _log.Release(chunk.Lines.Length);
            var refusal = ex as SpoolWriteException ?? new SpoolWriteException($"The spool could not store the event: {ex.Message}");
            foreach (var waiter in chunk.Waiters)
            {
                waiter.OnRefused(refusal);
            }
            if (_segment is { IsBroken: true })
            {
                SetFault($"Segment {_segment.Id.Key} could not be rolled back after a failed write.");
            }
        }
    }

    private void Seal(SpoolSeal seal)
    {
        if (seal.LastChunk is { } lastChunk)
        {
            Write(lastChunk);
        }

        SealedSegment? sealedSegment = null;
        if (seal.Segment is { } planned && _segment?.Id == planned && Fault is null)
        {
            var segment = _segment;
            // One sync makes the last lines durable and fixes the file's final size; after it the file is final.
            if (SyncWritten(sealing: true))
            {
                _segment = null;
                Volatile.Write(ref _openEvents, 0);
                try
                {
                    if (segment.Events > 0)
                    {
                        _roomHint = segment.Bytes;
                        segment.MoveToSealed(_directory);
                        sealedSegment = new SealedSegment(planned.Sequence, planned.Key, planned.Stream, segment.Events, segment.Bytes, _time.GetUtcNow())
                        {
                            Origins = seal.Origins,
                        };
                        _log.Add(sealedSegment);
                        _logger.LogInformation("Sealed batch {Key} with {Events} events", sealedSegment.Key, sealedSegment.Events);
                    }
                    else
                    {
                        segment.Delete();
                    }
                }
                catch (Exception ex)
                {
                    // The events are durable in open/; recovery on the next start seals them under the same key.
                    SetFault($"The spool could not seal {segment.Id.Key}: {ex.Message}");
                    _logger.LogCritical(ex, "{Fault}", Fault);
                }
            }
        }
        else
        {
            SyncWritten();
        }

        if (seal.Waiter is { } waiter)
        {
            if (Fault is { } fault && sealedSegment is null)
            {
                waiter.OnRefused(new SpoolWriteException(fault));
            }
            else
            {
                waiter.OnSealed(sealedSegment);
            }
        }
    }

    /// <summary>
    /// One sync for everything written since the last; those waiters become acknowledgeable. When
    /// <paramref name="sealing"/>, the sync also cuts the segment's room (and runs even with nothing new written).
    /// False when the sync failed: the spool is faulted and those waiters are refused.
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
                SetFault($"Syncing {segment.Id.Key} failed: {ex.Message}");
                _logger.LogCritical(ex, "{Fault}", Fault);
                var refusal = new SpoolWriteException(Fault!);
                foreach (var waiter in _written)
                {
                    waiter.OnRefused(refusal);
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
        _lastSync = _time.GetTimestamp();
        _durable.AddRange(_written);
        _written.Clear();
        return true;
    }

    private void Acknowledge()
    {
        foreach (var waiter in _durable)
        {
            waiter.OnDurable();
        }
        _durable.Clear();
    }

    private void SetFault(string fault) => Interlocked.CompareExchange(ref _fault, fault, null);
}

/// <summary>Told, on the spool's writer thread, whether the lines it came with are durable.</summary>
public interface IAppendWaiter
{
    void OnDurable();

    /// <summary>Nothing of the chunk was kept.</summary>
    void OnRefused(SpoolWriteException reason);
}

/// <summary>Told, on the spool's writer thread, how a seal ended; before the waiters of the chunk that came with it.</summary>
public interface ISealWaiter
{
    /// <param name="sealedSegment">The segment sealed, or null when there was none to seal (or it held no event).</param>
    void OnSealed(SealedSegment? sealedSegment);

    /// <summary>The spool is faulted and sealed nothing.</summary>
    void OnRefused(SpoolWriteException reason);
}

/// <summary>What the producer hands the writer, in order.</summary>
public abstract record SpoolWork;

/// <summary><paramref name="Events"/> whole NDJSON lines for one segment, and who waits for them to be durable.</summary>
public sealed record SpoolChunk(SegmentId Segment, byte[] Lines, int Events, IReadOnlyList<IAppendWaiter> Waiters) : SpoolWork;

/// <summary>Seal <see cref="Segment"/> (null: nothing open) once everything before it is durable.</summary>
/// <param name="LastChunk">Lines for the segment not yet handed over, written first.</param>
/// <param name="Origins">Trace contexts of requests whose events the segment holds (<see cref="SealedSegment.Origins"/>).</param>
public sealed record SpoolSeal(SegmentId? Segment, SpoolChunk? LastChunk, ISealWaiter? Waiter, IReadOnlyList<ActivityContext> Origins) : SpoolWork;

/// <summary>The spool holds as much as it may (<c>SPOOL_MAX_BYTES</c>): a sink is behind; try again later.</summary>
public sealed class SpoolFullException(long maxBytes)
    : Exception($"The spool is full ({maxBytes} bytes wait for delivery); nothing was stored. Retry later.");

/// <summary>The disk refused the write; nothing of the request was stored.</summary>
public sealed class SpoolWriteException(string message) : Exception(message);
