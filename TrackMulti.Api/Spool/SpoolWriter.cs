using System.Diagnostics;
using System.Threading.Channels;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The spool's producer face. On its own thread it writes the chunks it is given, fsyncs once for everything that
/// arrived meanwhile (group commit), and only then tells each chunk's waiters (with <c>SPOOL_SYNC=interval</c>, once
/// written, while <see cref="IntervalSync"/> flushes in the background). Because the producer keeps gathering
/// while this thread waits for the disk, an fsync never stalls intake. A seal comes in order with the chunks: the
/// segment's last lines are written here, then <see cref="SegmentSealer"/> syncs, renames and hands it to
/// <see cref="SpoolLog"/> (which offers it to the sinks) on a thread of its own, so appends to the next segments go on
/// meanwhile. Each stream has a segment open at a time; a segment's place in the log (its sequence) is given when it
/// is sealed, so the log is in the order of seals.
/// </summary>
public sealed class SpoolWriter
{
    private readonly Channel<SpoolWork> _work = Channel.CreateUnbounded<SpoolWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<(OpenSegment Segment, IReadOnlyList<IAppendWaiter> Waiters)> _written = []; // not yet durable
    private readonly List<IAppendWaiter> _durable = [];
    private readonly SpoolDirectory _directory;
    private readonly SpoolLog _log;
    private readonly TimeSpan? _syncInterval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<SegmentId, OpenSegment> _segments = [];
    private readonly HashSet<OpenSegment> _unsynced = [];
    private readonly Dictionary<string, long> _roomHints = []; // per stream, the last sealed segment's size: the next one's first room
    private readonly SegmentSealer _sealer;
    private readonly IntervalSync? _intervalSync;
    private long _lastSync;
    private bool _folderUnsynced; // SPOOL_SYNC=interval: a segment was created since the last background sync
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
        _sealer = new SegmentSealer(directory, log, this, time, logger);
        _intervalSync = syncInterval is null ? null : new IntervalSync(this, logger);
    }

    /// <summary>Set when the spool can no longer be trusted (a write that could not be rolled back, a failed fsync or
    /// seal): intake stops and the liveness check fails, so the Api is restarted and recovery repairs the spool.</summary>
    public string? Fault => Volatile.Read(ref _fault);

    /// <summary>Events written to the open segments (durable or about to be); read from any thread.</summary>
    public int OpenEvents => Volatile.Read(ref _openEvents);

    /// <summary>Writes <paramref name="chunk"/> after everything posted before it.</summary>
    public void Post(SpoolChunk chunk) => _work.Writer.TryWrite(chunk);

    /// <summary>Seals after everything posted before it.</summary>
    public void Post(SpoolSeal seal) => _work.Writer.TryWrite(seal);

    /// <summary>
    /// Takes another spool folder's sealed segments into this log, after everything posted before, each at a new place
    /// and under its own key; done once they are all here.
    /// </summary>
    public Task AdoptAsync(SpoolDirectory from, IReadOnlyList<SealedSegment> segments)
    {
        var adoption = new SpoolAdoption(from, segments);
        return _work.Writer.TryWrite(adoption) ? adoption.Done.Task : Task.FromException(new InvalidOperationException("The spool is closing."));
    }

    /// <summary>No more work will come; the thread finishes what was posted and ends.</summary>
    public void Complete() => _work.Writer.TryComplete();

    /// <summary>Ends once <see cref="Complete"/> was called and everything posted is done, seals included.</summary>
    public Task Completion => _run;

    // It blocks on the disk by design, so it gets a thread of its own instead of borrowing a thread-pool thread.
    internal void Start()
    {
        _sealer.Start();
        _intervalSync?.Start();
        var writing = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _run = Task.WhenAll(writing, _sealer.Completion, _intervalSync?.Completion ?? Task.CompletedTask);
    }

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
                        case SpoolAdoption adoption:
                            _sealer.Post(adoption);
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
                    TakeWritten(_durable);
                    if (_unsynced.Count > 0 && _time.GetElapsedTime(_lastSync) >= _syncInterval)
                    {
                        SyncInBackground();
                    }
                }
                Acknowledge();
            }
            if (_intervalSync is not null)
            {
                SyncInBackground();
                _intervalSync.Complete();
                _intervalSync.Completion.GetAwaiter().GetResult();
            }
            SyncWritten();
        }
        finally
        {
            _intervalSync?.Complete();
            _sealer.Complete();
            // Whatever is still open stays in open/ and is sealed by recovery on the next start.
            foreach (var segment in _segments.Values)
            {
                segment.Dispose();
            }
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
        if (_syncInterval is { } interval && _unsynced.Count > 0)
        {
            var due = interval - _time.GetElapsedTime(_lastSync);
            if (due <= TimeSpan.Zero || !waiting.Wait(due))
            {
                SyncInBackground();
            }
        }
        return waiting.GetAwaiter().GetResult();
    }

    private void Write(SpoolChunk chunk)
    {
        try
        {
            WriteLines(chunk);
        }
        finally
        {
            if (chunk.Rented)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(chunk.Lines.Array!);
            }
        }
    }

    private void WriteLines(SpoolChunk chunk)
    {
        OpenSegment? segment = null;
        try
        {
            if (Fault is { } fault)
            {
                throw new SpoolWriteException(fault);
            }
            if (!_segments.TryGetValue(chunk.Segment, out segment))
            {
                // With SPOOL_SYNC=interval the new file's name is made durable by the next background sync, with its lines.
                segment = OpenSegment.Create(_directory, chunk.Segment, _roomHints.GetValueOrDefault(chunk.Segment.Stream, OpenSegment.DefaultRoom),
                    syncFolder: _intervalSync is null);
                if (_intervalSync is not null)
                {
                    _folderUnsynced = true;
                }
                _segments.Add(chunk.Segment, segment);
            }
            segment.Write(chunk.Lines, chunk.Events);
            _written.Add((segment, chunk.Waiters));
            _unsynced.Add(segment);
            Interlocked.Add(ref _openEvents, chunk.Events);
        }
        catch (Exception ex)
        {
            // Nothing of this chunk is in the file (it was rolled back), so none of it is acknowledged.
            _logger.LogError(ex, "Spool write failed; refusing {Events} events", chunk.Events);
            _log.Release(chunk.Lines.Count);
            var refusal = ex as SpoolWriteException ?? new SpoolWriteException($"The spool could not store the event: {ex.Message}");
            foreach (var waiter in chunk.Waiters)
            {
                waiter.OnRefused(refusal);
            }
            if (segment is { IsBroken: true })
            {
                SetFault($"Segment {segment.Id.Key} could not be rolled back after a failed write.");
            }
        }
    }

    private void Seal(SpoolSeal seal)
    {
        if (seal.LastChunk is { } lastChunk)
        {
            Write(lastChunk);
        }
        if (_intervalSync is not null)
        {
            // In this mode a write is answered once written: of the seal's sync, only the request that set it off waits.
            TakeWritten(_durable);
        }

        if (seal.Segment is { } planned && Fault is null && _segments.Remove(planned, out var segment))
        {
            // The writer is done with the file: the sealer's sync makes its unsynced lines durable and cuts its room.
            _unsynced.Remove(segment);
            var waiters = new List<IAppendWaiter>();
            _written.RemoveAll(written =>
            {
                if (written.Segment != segment)
                {
                    return false;
                }
                waiters.AddRange(written.Waiters);
                return true;
            });
            if (segment.Events > 0)
            {
                _roomHints[planned.Stream] = segment.Bytes;
            }
            _sealer.Post(segment, seal, waiters);
        }
        else
        {
            SyncWritten();
            _sealer.Post(null, seal, []);
        }
    }

    /// <summary>Called by the sealer once a segment is final: its events are no longer open.</summary>
    internal void OnSealed(int events) => Interlocked.Add(ref _openEvents, -events);

    /// <summary>
    /// One sync of each segment written since the last; those waiters become acknowledgeable. False when a sync
    /// failed: the spool is faulted and those waiters are refused.
    /// </summary>
    private bool SyncWritten()
    {
        foreach (var segment in _unsynced)
        {
            try
            {
                segment.Sync();
            }
            catch (Exception ex)
            {
                // After a failed sync the page cache cannot be trusted: refuse, and stop until a restart recovers.
                SetFault($"Syncing {segment.Id.Key} failed: {ex.Message}");
                _logger.LogCritical(ex, "{Fault}", Fault);
                var refusal = new SpoolWriteException(Fault!);
                var refused = new List<IAppendWaiter>();
                TakeWritten(refused);
                foreach (var waiter in refused)
                {
                    waiter.OnRefused(refusal);
                }
                _unsynced.Clear();
                return false;
            }
        }
        _unsynced.Clear();
        _lastSync = _time.GetTimestamp();
        TakeWritten(_durable);
        return true;
    }

    /// <summary>
    /// <c>SPOOL_SYNC=interval</c>: hands the segments written since the last sync to <see cref="IntervalSync"/>. Their
    /// writes are answered already, so the writer goes on while the disk flushes.
    /// </summary>
    private void SyncInBackground()
    {
        _intervalSync!.Request(_unsynced, _folderUnsynced ? _directory.OpenDirectory : null);
        _unsynced.Clear();
        _folderUnsynced = false;
        _lastSync = _time.GetTimestamp();
    }

    private void TakeWritten(List<IAppendWaiter> into)
    {
        foreach (var (_, waiters) in _written)
        {
            into.AddRange(waiters);
        }
        _written.Clear();
    }

    private void Acknowledge()
    {
        foreach (var waiter in _durable)
        {
            waiter.OnDurable();
        }
        _durable.Clear();
    }

    internal void SetFault(string fault) => Interlocked.CompareExchange(ref _fault, fault, null);

    /// <summary>
    /// <c>SPOOL_SYNC=interval</c>'s syncs (the segments' fdatasyncs, the open folder's fsync for the files created),
    /// on a thread of their own. A sync waits for the device, and a device busy writing back other files' pages (the
    /// sealed segments, the S3 endpoint's own files) can hold it far longer than a request may wait; done on the
    /// writer's thread, every request in the meantime would wait with it.
    /// </summary>
    private sealed class IntervalSync(SpoolWriter writer, ILogger logger)
    {
        private readonly HashSet<OpenSegment> _due = [];
        private string? _folder;
        private bool _completed;

        public Task Completion { get; private set; } = Task.CompletedTask;

        public void Start() =>
            Completion = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        /// <summary>Syncs these segments (and <paramref name="folder"/>, when set) soon; with a sync in progress, once it is done.</summary>
        public void Request(IEnumerable<OpenSegment> segments, string? folder)
        {
            lock (_due)
            {
                _due.UnionWith(segments);
                _folder ??= folder;
                Monitor.Pulse(_due);
            }
        }

        /// <summary>Ends once every segment requested is synced.</summary>
        public void Complete()
        {
            lock (_due)
            {
                _completed = true;
                Monitor.Pulse(_due);
            }
        }

        private void Run()
        {
            while (true)
            {
                OpenSegment[] segments;
                string? folder;
                lock (_due)
                {
                    while (_due.Count == 0 && _folder is null && !_completed)
                    {
                        Monitor.Wait(_due);
                    }
                    if (_due.Count == 0 && _folder is null)
                    {
                        return;
                    }
                    segments = [.. _due];
                    _due.Clear();
                    (folder, _folder) = (_folder, null);
                }
                if (folder is not null)
                {
                    try
                    {
                        DirectorySync.Flush(folder);
                    }
                    catch (Exception ex)
                    {
                        writer.SetFault($"Syncing {folder} failed: {ex.Message}");
                        logger.LogCritical(ex, "{Fault}", writer.Fault);
                    }
                }
                foreach (var segment in segments)
                {
                    try
                    {
                        segment.Sync();
                    }
                    catch (ObjectDisposedException)
                    {
                        // Sealed meanwhile: the seal's own sync made it durable (or failed, and faulted the spool).
                    }
                    catch (Exception ex)
                    {
                        // After a failed sync the page cache cannot be trusted: stop until a restart recovers.
                        writer.SetFault($"Syncing {segment.Id.Key} failed: {ex.Message}");
                        logger.LogCritical(ex, "{Fault}", writer.Fault);
                    }
                }
            }
        }
    }
}

/// <summary>Told, on one of the spool's threads, whether the lines it came with are durable.</summary>
public interface IAppendWaiter
{
    void OnDurable();

    /// <summary>Nothing of the chunk was kept.</summary>
    void OnRefused(SpoolWriteException reason);
}

/// <summary>Told, on the spool's sealing thread and in the order of seals, how a seal ended; before the waiters of the
/// chunk that came with it, but not necessarily before the waiters of later chunks.</summary>
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
/// <param name="Rented">The lines' array is the shared pool's; the writer gives it back once it has written them.</param>
public sealed record SpoolChunk(SegmentId Segment, ArraySegment<byte> Lines, int Events, IReadOnlyList<IAppendWaiter> Waiters, bool Rented = false) : SpoolWork;

/// <summary>Seal <see cref="Segment"/> (null: nothing open) once everything before it is durable.</summary>
/// <param name="LastChunk">Lines for the segment not yet handed over, written first.</param>
/// <param name="Origins">Trace contexts of requests whose events the segment holds (<see cref="SealedSegment.Origins"/>).</param>
public sealed record SpoolSeal(SegmentId? Segment, SpoolChunk? LastChunk, ISealWaiter? Waiter, IReadOnlyList<ActivityContext> Origins) : SpoolWork;

/// <summary>Another folder's sealed segments to take into the log (<see cref="SpoolWriter.AdoptAsync"/>).</summary>
public sealed record SpoolAdoption(SpoolDirectory From, IReadOnlyList<SealedSegment> Segments) : SpoolWork
{
    public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>The spool holds as much as it may (<c>SPOOL_MAX_BYTES</c>): a sink is behind; try again later.</summary>
public sealed class SpoolFullException(long maxBytes)
    : Exception($"The spool is full ({maxBytes} bytes wait for delivery); nothing was stored. Retry later.");

/// <summary>The disk refused the write; nothing of the request was stored.</summary>
public sealed class SpoolWriteException(string message) : Exception(message);
