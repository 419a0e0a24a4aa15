using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Spool;

/// <summary>
/// The durable log between intake and the sinks. Producer face: <see cref="Open"/> a segment, append into it on the
/// caller's thread (<see cref="OpenSegment.Reserve"/>, <see cref="OpenSegment.Write"/>, then <see cref="Written"/>),
/// <see cref="SealAsync">seal</see> it; with <see cref="NextSequence"/> and the byte bound (<see cref="TryReserve"/>).
/// Consumer face: each sink <see cref="Subscribe">subscribes</see> once and receives the sealed segments in order
/// through its <see cref="SpoolCursor"/>, acknowledging them as it delivers; a segment's disk is freed once every
/// cursor has passed it. The log knows no sink type, and one sink never holds back another. At start it repairs what a
/// crash left and restores every sink's cursor. Spool/README.md has the design.
/// </summary>
public sealed partial class SpoolLog : IHostedService
{
    private readonly Lock _lock = new();
    private readonly List<SealedSegment> _segments = []; // kept segments, by sequence
    private readonly List<SpoolCursor> _cursors = [];
    private readonly HashSet<OpenSegment> _open = []; // under _lock
    private readonly ConcurrentDictionary<string, long> _expectedBytes = new(); // per stream, the last sealed segment's size
    private readonly ConcurrentDictionary<string, SpareFile> _spares = new(); // per stream, the file its next segment takes
    private readonly SpoolDirectory _directory;
    private readonly ILogger<SpoolLog> _logger;
    private readonly SpoolSyncer _syncer;
    private readonly SegmentSealer _sealer;
    private TaskCompletionSource _added = NewSignal();
    private readonly Channel<SealedSegment> _toDelete = Channel.CreateUnbounded<SealedSegment>(new UnboundedChannelOptions { SingleReader = true });
    private Task _deleting = Task.CompletedTask;
    private long _usedBytes;
    private long _lastSequence;
    private string? _fault;
    private bool _started;

    public SpoolLog(IOptions<SpoolOptions> options, SpoolDirectory directory, TimeProvider time, TrackMetrics metrics, ILogger<SpoolLog> logger)
    {
        MaxBytes = options.Value.MaxBytes;
        InstanceId = options.Value.InstanceId;
        _directory = directory;
        _logger = logger;
        _syncer = new SpoolSyncer(directory.OpenDirectory, options.Value.SyncInterval, (fault, ex) => SetFault(fault, ex), () => Fault);
        _sealer = new SegmentSealer(directory, this, time, logger);
        metrics.ObserveSpoolBytes(() => UsedBytes);
    }

    /// <summary>This replica (<c>INSTANCE_ID</c>): its folder in <c>SPOOL_DIR</c>, and the name producers put in keys.</summary>
    public string InstanceId { get; }

    /// <summary><c>SPOOL_MAX_BYTES</c>: open and kept segments together never pass it.</summary>
    public long MaxBytes { get; }

    /// <summary>Bytes the spool holds or has promised to an append under way.</summary>
    public long UsedBytes => Interlocked.Read(ref _usedBytes);

    /// <summary>Set when the spool can no longer be trusted (a failed fsync or seal): intake stops and the liveness
    /// check fails, so the Api is restarted and recovery repairs the spool.</summary>
    public string? Fault => Volatile.Read(ref _fault);

    /// <summary>Events in segments not yet sealed (written or being written).</summary>
    public int OpenEvents
    {
        get
        {
            lock (_lock)
            {
                return _open.Sum(segment => segment.Events);
            }
        }
    }

    /// <summary>Segments kept on disk, the open ones included, and the events in the open ones.</summary>
    public SpoolStats Stats()
    {
        lock (_lock)
        {
            var openEvents = _open.Sum(segment => segment.Events);
            return new SpoolStats(_segments.Count + _open.Count(segment => segment.Events > 0), UsedBytes, openEvents);
        }
    }

    /// <summary>
    /// Opens the segment <paramref name="id"/> (its number from <see cref="NextSequence"/>, its key the producer's),
    /// which takes appends until it is closed, in the stream's spare file when the sealer made one.
    /// </summary>
    /// <exception cref="SpoolWriteException">The spool is faulted, or the file could not be made.</exception>
    public OpenSegment Open(SegmentId id, SegmentLimits limits)
    {
        if (Fault is { } fault)
        {
            throw new SpoolWriteException(fault);
        }
        OpenSegment segment;
        try
        {
            _spares.TryRemove(id.Stream, out var spare);
            segment = OpenSegment.Open(_directory, id, limits, spare, ExpectedBytes(id.Stream));
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "The spool could not create segment {Key}", id.Key);
            throw new SpoolWriteException($"The spool could not store the event: {ex.Message}");
        }
        _syncer.Created();
        lock (_lock)
        {
            _open.Add(segment);
        }
        _sealer.PrepareNextSegment(id.Stream);
        return segment;
    }

    /// <summary>
    /// On the sealing thread: makes the file the stream's next segment will take, unless there is one, and keeps the
    /// numbers' reservation ahead (both would otherwise wait for the disk on a request's thread).
    /// </summary>
    internal void PrepareNextSegment(string stream)
    {
        if (Fault is not null)
        {
            return;
        }
        try
        {
            _directory.ReserveAhead(Interlocked.Read(ref _lastSequence));
            if (_spares.ContainsKey(stream))
            {
                return;
            }
            var spare = SpareFile.Create(_directory, stream, ExpectedBytes(stream));
            if (!_spares.TryAdd(stream, spare))
            {
                spare.Delete();
            }
        }
        catch (Exception ex)
        {
            // Harmless: the request that opens the next segment does both itself (and says why, should that fail too).
            _logger.LogWarning(ex, "Could not prepare the next segment of stream {Stream} (its file or its number)", stream);
        }
    }

    private long ExpectedBytes(string stream) => _expectedBytes.GetValueOrDefault(stream, OpenSegment.DefaultPreallocation);

    /// <summary>
    /// After a copy into <paramref name="segment"/>: completes once the copy is durable as <c>SPOOL_SYNC</c> promises
    /// (<c>always</c>: synced; <c>interval</c>: at once, synced within the interval).
    /// </summary>
    /// <exception cref="SpoolWriteException">The sync failed: the spool is faulted.</exception>
    public Task Written(OpenSegment segment) => _syncer.Written(segment);

    /// <summary>
    /// Seals the closed <paramref name="segment"/> after every seal asked for before it and adds it to the log; with
    /// null, only waits for those.
    /// </summary>
    public Task<SealResult> SealAsync(OpenSegment? segment) => _sealer.Post(segment);

    /// <summary>
    /// Takes another spool folder's sealed segments into this log, after every seal asked for before, each at a new
    /// place and under its own key; done once they are all here.
    /// </summary>
    public Task AdoptAsync(SpoolDirectory from, IReadOnlyList<SealedSegment> segments) => _sealer.Adopt(from, segments);

    internal void SetFault(string fault, Exception ex)
    {
        if (Interlocked.CompareExchange(ref _fault, fault, null) is null)
        {
            _logger.LogCritical(ex, "{Fault}", fault);
        }
    }

    /// <summary>On the sealing thread: the segment is no longer open (sealed, or left to recovery).</summary>
    internal void OnSealed(OpenSegment segment)
    {
        if (segment.Events > 0)
        {
            _expectedBytes[segment.Id.Stream] = segment.Bytes;
        }
        lock (_lock)
        {
            _open.Remove(segment);
        }
    }

    /// <summary>
    /// The next value of the log's one counter: a producer's number for the segment it opens, or the sealer's place
    /// in the log for one it seals. Never handed out twice, across restarts too.
    /// </summary>
    public long NextSequence() => Interlocked.Increment(ref _lastSequence);

    /// <summary>Claims <paramref name="bytes"/> more of the bound; false when that would pass <see cref="MaxBytes"/>.</summary>
    public bool TryReserve(long bytes)
    {
        var used = Interlocked.Read(ref _usedBytes);
        while (used + bytes <= MaxBytes)
        {
            var seen = Interlocked.CompareExchange(ref _usedBytes, used + bytes, used);
            if (seen == used)
            {
                return true;
            }
            used = seen;
        }
        return false;
    }

    internal void Release(long bytes) => Interlocked.Add(ref _usedBytes, -bytes);

    /// <summary>
    /// A sink's place in the log, restored from its last start. Call before the spool starts (sinks do, when they are
    /// built). A sink seen for the first time starts with the segments sealed from then on (on a new spool, with all).
    /// </summary>
    /// <param name="name">The sink's name, stable across restarts: its cursor is kept under it.</param>
    /// <param name="takes">Which streams the sink takes; it passes over the others without reading them.</param>
    /// <param name="maxBacklogBytes">When set, past this many bytes waiting for the sink, its oldest segments are
    /// dropped for it alone (<paramref name="onDropped"/> hears of each).</param>
    public SpoolCursor Subscribe(string name, Func<string, bool> takes, long? maxBacklogBytes = null, Action<SpoolDrop>? onDropped = null)
    {
        lock (_lock)
        {
            if (_started)
            {
                throw new InvalidOperationException($"Sink '{name}' subscribed after the spool started.");
            }
            if (_cursors.Any(c => c.Sink == name))
            {
                throw new InvalidOperationException($"Sink '{name}' subscribed twice.");
            }
            var cursor = new SpoolCursor(this, _directory, name, takes, maxBacklogBytes, onDropped);
            _cursors.Add(cursor);
            return cursor;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var recovered = _directory.Recover(_logger);
        List<SealedSegment> freed;
        lock (_lock)
        {
            _started = true;
            _lastSequence = recovered.LastSequence;
            _segments.AddRange(recovered.Segments);
            _usedBytes = recovered.Segments.Sum(s => s.Bytes);
            foreach (var cursor in _cursors)
            {
                var start = recovered.Cursors.TryGetValue(cursor.Sink, out var kept) ? kept
                    : _directory.HadCursors ? new SpoolPosition(recovered.LastSequence + 1, 0)
                    : new SpoolPosition(0, 0);
                Restore(cursor, start);
            }
            freed = Passed();
        }
        foreach (var cursor in _cursors)
        {
            cursor.Persist(); // a sink's cursor exists from its first start on, so it is never taken for a new sink
        }
        foreach (var stale in recovered.Cursors.Keys.Where(sink => _cursors.All(c => c.Sink != sink)))
        {
            _logger.LogInformation("Sink {Sink} is no longer enabled; its place in the spool is forgotten", stale);
            _directory.DeleteCursor(stale);
        }
        freed.ForEach(DeleteFile);
        if (_segments.Count > 0)
        {
            _logger.LogInformation("Spool recovery: {Segments} segments ({Events} events) wait for delivery",
                _segments.Count, _segments.Sum(s => s.Events));
        }
        _deleting = Task.Factory.StartNew(DeleteInOrder, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _syncer.Start();
        _sealer.Start();
        return Task.CompletedTask;
    }

    /// <summary>Waits for the seals and syncs the producers asked for (they stop first, with their last seals).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _sealer.Complete();
        _syncer.Complete();
        _toDelete.Writer.TryComplete(); // what is passed from now on is deleted at once
        try
        {
            await Task.WhenAll(_sealer.Completion, _syncer.Completion, _deleting).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The shutdown timeout is over (a sink used it up): what is still open is recovered on the next start,
            // and what was not yet deleted is freed again then.
        }
        finally
        {
            lock (_lock)
            {
                foreach (var segment in _open)
                {
                    segment.Dispose(); // left in open/ for recovery
                }
            }
            foreach (var stream in _spares.Keys)
            {
                if (_spares.TryRemove(stream, out var spare))
                {
                    spare.Delete();
                }
            }
        }
    }

    /// <summary>A segment was sealed (on the sealing thread): offer it to every sink.</summary>
    internal void Add(SealedSegment segment)
    {
        var drops = new List<(SpoolCursor Cursor, SpoolDrop Drop)>();
        List<SealedSegment> freed;
        lock (_lock)
        {
            _segments.Add(segment);
            foreach (var cursor in _cursors)
            {
                OnAdded(cursor, segment, drops);
            }
            Fire(ref _added);
            freed = drops.Count > 0 ? Passed() : [];
        }
        foreach (var (cursor, drop) in drops)
        {
            cursor.Persist();
            cursor.OnDropped?.Invoke(drop);
        }
        Delete(freed);
    }

    /// <summary>A segment taken over from another replica's folder: added like a sealed one, and counted against the bound.</summary>
    internal void AddAdopted(SealedSegment segment)
    {
        Interlocked.Add(ref _usedBytes, segment.Bytes);
        Add(segment);
    }

    /// <summary>
    /// Deletes what every sink has passed on a thread of its own, never under the lock or on a thread-pool thread: an
    /// unlink can wait long for the device (ext4 mounted with <c>discard</c> trims the freed blocks inside the unlink),
    /// and the sinks and the sealer must not wait with it. Once the spool has stopped, deletes at once.
    /// </summary>
    private void Delete(List<SealedSegment> freed)
    {
        foreach (var segment in freed)
        {
            if (!_toDelete.Writer.TryWrite(segment))
            {
                DeleteFile(segment);
            }
        }
    }

    private void DeleteInOrder()
    {
        var reader = _toDelete.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var segment))
            {
                DeleteFile(segment);
            }
        }
    }

    private void DeleteFile(SealedSegment segment)
    {
        try
        {
            File.Delete(_directory.SealedPath(segment));
        }
        catch (Exception ex)
        {
            // Harmless: every cursor has passed it, so the next start frees it again.
            _logger.LogWarning(ex, "Could not delete the delivered segment {Key}", segment.Key);
        }
    }

    private static void Fire(ref TaskCompletionSource signal)
    {
        signal.TrySetResult();
        signal = NewSignal();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>Events of <paramref name="Segment"/> a bounded sink will never get (the rest of it, from event <paramref name="FromEvent"/>).</summary>
public sealed record SpoolDrop(SealedSegment Segment, int FromEvent)
{
    public int Events => Segment.Events - FromEvent;
}
