using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;
using TrackMulti.Api.Spool;

namespace TrackMulti.Api.Batching;

/// <summary>
/// Owns the open batch of one stream (<see cref="Batches"/> holds one per stream). One loop, on its own thread, reads append, seal and age messages from a channel:
/// it gathers the lines of every request waiting into one chunk and hands it to the spool's writer, which writes it,
/// fsyncs and only then acknowledges. Count, byte and age triggers, flushes and shutdown are all decided in this loop,
/// so they cannot race, and no lock sits on the request path.
/// </summary>
public sealed class BatchWriter : BackgroundService
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();

    // Unbounded is safe: every message is a request (or flush) awaiting its answer, so the queue never holds more than
    // the requests in flight, which Kestrel's connection limits bound.
    private readonly Channel<Command> _commands = Channel.CreateUnbounded<Command>(new UnboundedChannelOptions { SingleReader = true });

    private readonly BatchingOptions _options;
    private readonly ObjectLayout _layout;
    private readonly SpoolLog _spool;
    private readonly TimeProvider _time;
    private readonly ILogger<BatchWriter> _logger;
    private readonly ITimer _ageTimer;
    private readonly ArrayBufferWriter<byte> _chunk = new(64 * 1024);
    private readonly List<IAppendWaiter> _chunkAppends = [];
    private int _chunkEvents;

    private SegmentPlan? _open;
    private long _openSequence;
    private int _openEvents;

    public BatchWriter(
        string stream, IOptions<BatchingOptions> options, IOptions<ObjectLayout> layout, SpoolLog spool, TimeProvider time, ILogger<BatchWriter> logger)
    {
        Stream = stream;
        _options = options.Value;
        _layout = layout.Value;
        _spool = spool;
        _time = time;
        _logger = logger;
        _ageTimer = time.CreateTimer(_ => OnAgeTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The stream this writer's batches belong to.</summary>
    public string Stream { get; }

    /// <summary>Events in the open (not yet sealed) batch, acknowledged or about to be.</summary>
    public int OpenEventCount => Volatile.Read(ref _openEvents);

    public int MaxBatchSize => _options.BatchSize;

    /// <summary>Stores the event (one NDJSON line, no newline) durably in the open batch; seals the batch when it is full and says so.</summary>
    /// <exception cref="IntakeClosedException">The service is shutting down.</exception>
    /// <exception cref="SpoolFullException">The spool has reached <c>SPOOL_MAX_BYTES</c>.</exception>
    /// <exception cref="SpoolWriteException">The disk refused the write (full, failing).</exception>
    /// <param name="origin">The trace context of the request that carried the event (delivery spans link to it).</param>
    public Task<AppendResult> AppendAsync(byte[] line, CancellationToken cancellationToken, ActivityContext origin = default) =>
        AppendAsync([line], cancellationToken, origin);

    /// <summary>As <see cref="AppendAsync(IReadOnlyList{byte[]}, CancellationToken, ActivityContext)"/>, into the partition of <paramref name="receivedAt"/>.</summary>
    public Task<AppendResult> AppendAsync(
        IReadOnlyList<byte[]> lines, DateTimeOffset receivedAt, CancellationToken cancellationToken, ActivityContext origin = default) =>
        AppendAsync(new Command(lines) { Origin = origin, ReceivedAt = receivedAt }, cancellationToken);

    /// <summary>
    /// Stores all the events (NDJSON lines, no newlines) durably, together, in one segment: a crash keeps all of them
    /// or none, and the answer comes once all are on disk. Seals before them when they would not fit in the open batch.
    /// </summary>
    public Task<AppendResult> AppendAsync(IReadOnlyList<byte[]> lines, CancellationToken cancellationToken, ActivityContext origin = default) =>
        AppendAsync(new Command(lines) { Origin = origin, ReceivedAt = _time.GetUtcNow() }, cancellationToken);

    private async Task<AppendResult> AppendAsync(Command command, CancellationToken cancellationToken)
    {
        await SendAsync(command, cancellationToken);
        // Not given up when the caller goes: once sent, the events are stored either way, within one flush.
        return await command.Completion.Task;
    }

    /// <summary>
    /// Seals the open batch now, whatever its size, once every earlier seal is done. Returns null when it held no events.
    /// </summary>
    public async Task<SealedSegment?> SealAsync(CancellationToken cancellationToken)
    {
        var command = new Command(null);
        await SendAsync(command, cancellationToken);
        return (await command.Completion.Task.WaitAsync(cancellationToken)).Sealed;
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        // Stop intake first; the loop finishes what was queued and seals the open batch.
        _commands.Writer.TryComplete();
        return base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _ageTimer.Dispose();
        base.Dispose();
    }

    // The loop blocks on the channel by design, so it gets a thread of its own instead of borrowing a thread-pool thread.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(Gather, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Gather()
    {
        // Deliberately not bound to a stopping token: StopAsync completes the channel, and the loop must drain it.
        while (WaitToRead())
        {
            while (_commands.Reader.TryRead(out var command))
            {
                Handle(command);
            }
            PostChunk();
        }

        // The last seal is done before the writer stops, so the sinks that stop after it can deliver it. A faulted
        // spool refuses it; recovery seals that segment on the next start.
        var last = new TaskCompletionSource<AppendResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        Seal(trigger: null, flush: last);
        ((IAsyncResult)last.Task).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30));
    }

    private bool WaitToRead()
    {
        var ready = _commands.Reader.WaitToReadAsync();
        return ready.IsCompletedSuccessfully ? ready.Result : ready.AsTask().GetAwaiter().GetResult();
    }

    private void Handle(Command command)
    {
        try
        {
            switch (command)
            {
                case { Lines: { } lines }:
                    Append(command, lines);
                    break;
                case { AgeOfSequence: { } sequence }:
                    if (_open?.Id.Sequence == sequence)
                    {
                        Seal(trigger: null, flush: null);
                    }
                    break;
                default:
                    Seal(trigger: null, flush: command.Completion);
                    break;
            }
        }
        catch (Exception ex)
        {
            // Nothing here does I/O; still, one bad message must never stop the loop and strand every request.
            _logger.LogError(ex, "The batch writer could not handle a request");
            command.Completion.TrySetException(ex);
        }
    }

    private void Append(Command command, IReadOnlyList<byte[]> lines)
    {
        if (_spool.Fault is { } fault)
        {
            command.Completion.TrySetException(new SpoolWriteException(fault));
            return;
        }

        long bytes = lines.Count * NewLine.Length;
        foreach (var line in lines)
        {
            bytes += line.Length;
        }
        if (!_spool.TryReserve(bytes))
        {
            command.Completion.TrySetException(new SpoolFullException(_spool.MaxBytes));
            return;
        }

        var append = new PendingAppend(command.Completion);
        // A request's events stay together in one segment (one write), so no crash can keep a part of them: seal first
        // when they would take the open batch past BATCH_SIZE or BATCH_MAX_BYTES (a request larger than either alone
        // makes a batch of its own), or when they belong to another partition than the open batch's.
        var partition = _layout.PartitionOf(command.ReceivedAt);
        if (_open is { Events: > 0 } full
            && (full.Events + lines.Count > _options.BatchSize || full.Bytes + bytes > _options.MaxBytes || full.Partition != partition))
        {
            Seal(trigger: append, flush: null);
        }

        var open = _open ??= NewSegment(command.ReceivedAt, partition);
        if (command.Origin != default && open.Origins.Count < SealedSegment.MaxOrigins)
        {
            open.Origins.Add(command.Origin);
        }
        foreach (var line in lines)
        {
            _chunk.Write(line);
            _chunk.Write(NewLine);
        }
        _chunkEvents += lines.Count;
        open.Events += lines.Count;
        open.Bytes += bytes;
        append.OpenEvents = open.Events;
        _chunkAppends.Add(append);

        // Count trigger: the request that fills the batch seals it and names it in its own response.
        if (open.Events >= _options.BatchSize)
        {
            append.OpenEvents = 0;
            Seal(trigger: append, flush: null);
        }
        PublishOpenCount();
    }

    /// <summary>
    /// Hands the spool the seal of the open segment together with its last gathered lines, as one piece of work,
    /// so the request that filled the batch cannot be answered before the batch it names exists.
    /// </summary>
    private void Seal(PendingAppend? trigger, TaskCompletionSource<AppendResult>? flush)
    {
        trigger?.SetsOffSeal();
        var waiter = trigger is null && flush is null ? null : new SealWaiter(trigger, flush);
        var seal = new SpoolSeal(_open?.Id, TakeChunk(), waiter, _open?.Origins ?? []);
        // Counts first: once posted, the batch may be stored before this thread runs another line.
        _open = null;
        Volatile.Write(ref _openSequence, 0);
        _ageTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        PublishOpenCount();
        _spool.Writer.Post(seal);
    }

    private void PostChunk()
    {
        if (TakeChunk() is { } chunk)
        {
            _spool.Writer.Post(chunk);
        }
    }

    private SpoolChunk? TakeChunk()
    {
        if (_chunkAppends.Count == 0)
        {
            return null;
        }
        // A pooled array: a group of many requests' lines would otherwise be a large object for the GC each time.
        var lines = ArrayPool<byte>.Shared.Rent(_chunk.WrittenCount);
        _chunk.WrittenSpan.CopyTo(lines);
        var chunk = new SpoolChunk(_open!.Id, new ArraySegment<byte>(lines, 0, _chunk.WrittenCount), _chunkEvents, [.. _chunkAppends], Rented: true);
        _chunk.Clear();
        _chunkAppends.Clear();
        _chunkEvents = 0;
        return chunk;
    }

    private SegmentPlan NewSegment(DateTimeOffset firstReceivedAt, string partition)
    {
        var sequence = _spool.NextSequence();
        var key = BatchKey.For(Stream, firstReceivedAt, _spool.InstanceId, sequence, _layout);
        var segment = new SegmentPlan(new SegmentId(sequence, key, Stream), partition);
        Volatile.Write(ref _openSequence, sequence);
        _ageTimer.Change(_options.MaxAge, Timeout.InfiniteTimeSpan);
        return segment;
    }

    /// <summary>Runs on a timer thread: asks the loop to seal the segment that was open when the timer was armed.</summary>
    private void OnAgeTimer()
    {
        var sequence = Volatile.Read(ref _openSequence);
        if (sequence != 0)
        {
            // Fails only once the writer is closing, and its shutdown seals the open batch anyway.
            _commands.Writer.TryWrite(new Command(null) { AgeOfSequence = sequence });
        }
    }

    private void PublishOpenCount() => Volatile.Write(ref _openEvents, _open?.Events ?? 0);

    private async ValueTask SendAsync(Command command, CancellationToken cancellationToken)
    {
        try
        {
            await _commands.Writer.WriteAsync(command, cancellationToken);
        }
        catch (ChannelClosedException)
        {
            throw new IntakeClosedException();
        }
    }

    /// <summary>An append (<see cref="Lines"/>), a seal (neither set) or the age trigger for one segment.</summary>
    private sealed record Command(IReadOnlyList<byte[]>? Lines)
    {
        public long? AgeOfSequence { get; init; }

        public ActivityContext Origin { get; init; }

        /// <summary>When the Api received the lines (their rows' <c>receivedAt</c>): it decides their partition.</summary>
        public DateTimeOffset ReceivedAt { get; init; }

        public TaskCompletionSource<AppendResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A segment as the writer plans it: its id, and what it has been given so far.</summary>
    private sealed class SegmentPlan(SegmentId id, string partition)
    {
        public SegmentId Id { get; } = id;

        /// <summary>Every row of the batch lies in this partition (<see cref="ObjectLayout.PartitionOf"/>).</summary>
        public string Partition { get; } = partition;
        public int Events { get; set; }
        public long Bytes { get; set; }

        /// <summary>Trace contexts of the first requests into this segment (bounded), for the delivery spans' links.</summary>
        public List<ActivityContext> Origins { get; } = [];
    }

    /// <summary>
    /// A request's append waiting for the spool: answered once its lines are durable and every seal it set off has
    /// been told (seals run on the spool's sealing thread, so either may come first).
    /// </summary>
    private sealed class PendingAppend(TaskCompletionSource<AppendResult> completion) : IAppendWaiter
    {
        private int _outstanding = 1; // its lines, and one per seal it set off

        public int OpenEvents { get; set; }

        /// <summary>The batches this request sealed, in order; null while none.</summary>
        private List<SealedSegment>? _seals;

        /// <summary>Called on the batch writer's thread before the seal is handed to the spool.</summary>
        public void SetsOffSeal() => Interlocked.Increment(ref _outstanding);

        public void OnSeal(SealedSegment? sealedSegment)
        {
            if (sealedSegment is not null)
            {
                (_seals ??= []).Add(sealedSegment);
            }
            Done();
        }

        public void OnDurable() => Done();

        public void OnRefused(SpoolWriteException reason) => completion.TrySetException(reason);

        private void Done()
        {
            if (Interlocked.Decrement(ref _outstanding) == 0)
            {
                completion.TrySetResult(new AppendResult(OpenEvents, (IReadOnlyList<SealedSegment>?)_seals ?? []));
            }
        }
    }

    /// <summary>Names the sealed batch in the answer of the request that filled it, and answers a flush.</summary>
    private sealed class SealWaiter(PendingAppend? trigger, TaskCompletionSource<AppendResult>? flush) : ISealWaiter
    {
        public void OnSealed(SealedSegment? sealedSegment)
        {
            trigger?.OnSeal(sealedSegment);
            flush?.TrySetResult(new AppendResult(0, sealedSegment is null ? [] : [sealedSegment]));
        }

        public void OnRefused(SpoolWriteException reason)
        {
            trigger?.OnSeal(null); // its own lines are answered for by the spool, durable or refused
            flush?.TrySetException(reason);
        }
    }
}

/// <param name="OpenEventCount">Events in the open batch after this request (0 when it sealed one).</param>
/// <param name="Seals">The batches this request sealed, in order.</param>
public sealed record AppendResult(int OpenEventCount, IReadOnlyList<SealedSegment> Seals)
{
    /// <summary>The last batch this request sealed (the one holding its events, when it filled it), if any.</summary>
    public SealedSegment? Sealed => Seals.Count > 0 ? Seals[^1] : null;
}

/// <summary>The writer no longer accepts events because the service is stopping.</summary>
public sealed class IntakeClosedException() : Exception("The service is shutting down and accepts no more events.");
