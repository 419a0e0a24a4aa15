using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Storage;

namespace TrackMulti.Api.Batching;

/// <summary>
/// Owns the open batch. One loop, on its own thread, reads append, seal and age messages from a channel: it gathers the
/// lines of every request waiting into one chunk and hands it to the <see cref="SpoolCommitter"/>, which writes it,
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
    private readonly SpoolOptions _spoolOptions;
    private readonly SpoolDirectory _spool;
    private readonly UploadQueue _uploads;
    private readonly TimeProvider _time;
    private readonly ILogger<BatchWriter> _logger;
    private readonly SpoolCommitter _committer;
    private readonly ITimer _ageTimer;
    private readonly ArrayBufferWriter<byte> _chunk = new(64 * 1024);
    private readonly List<PendingAppend> _chunkAppends = [];

    private SegmentPlan? _open;
    private long _lastSequence;
    private long _openSequence;
    private int _openEvents;
    private long _openBytes;

    public BatchWriter(
        IOptions<BatchingOptions> options,
        IOptions<SpoolOptions> spoolOptions,
        SpoolDirectory spool,
        UploadQueue uploads,
        TimeProvider time,
        ILogger<BatchWriter> logger)
    {
        _options = options.Value;
        _spoolOptions = spoolOptions.Value;
        _spool = spool;
        _uploads = uploads;
        _time = time;
        _logger = logger;
        _committer = new SpoolCommitter(spool, uploads, logger);
        _ageTimer = time.CreateTimer(_ => OnAgeTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Events in the open (not yet sealed) batch, acknowledged or about to be.</summary>
    public int OpenEventCount => Volatile.Read(ref _openEvents);

    /// <summary>Bytes in the open batch's segment.</summary>
    public long OpenBytes => Interlocked.Read(ref _openBytes);

    public int MaxBatchSize => _options.BatchSize;

    /// <summary>Why the spool stopped taking events (null while healthy). Only a restart, which runs recovery, clears it.</summary>
    public string? Fault => _committer.Fault;

    /// <summary>Stores the event durably in the open batch; seals the batch when it is full and says so.</summary>
    /// <exception cref="IntakeClosedException">The service is shutting down.</exception>
    /// <exception cref="SpoolFullException">The spool has reached <c>SPOOL_MAX_BYTES</c>.</exception>
    /// <exception cref="SpoolWriteException">The disk refused the write (full, failing).</exception>
    /// <param name="origin">The trace context of the request that carried the event (its upload span links to it).</param>
    public async Task<AppendResult> AppendAsync(TrackEvent evt, CancellationToken cancellationToken, System.Diagnostics.ActivityContext origin = default)
    {
        var command = new Command(evt.ToJsonLine()) { Origin = origin };
        await SendAsync(command, cancellationToken);
        return await command.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Seals the open batch now, whatever its size, once every earlier seal is done. Returns null when it held no events.
    /// </summary>
    public async Task<SealedBatch?> SealAsync(CancellationToken cancellationToken)
    {
        var command = new Command(null);
        await SendAsync(command, cancellationToken);
        return (await command.Completion.Task.WaitAsync(cancellationToken)).Sealed;
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the first event: repair what a crash left and hand every sealed segment to the uploader.
        var recovered = _spool.Recover(_logger);
        _lastSequence = recovered.LastSequence;
        foreach (var batch in recovered.SealedBatches)
        {
            _uploads.Enqueue(batch);
        }
        return base.StartAsync(cancellationToken);
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        // Stop intake first; the loop finishes what was queued, seals the open batch, and the committer writes it all.
        _commands.Writer.TryComplete();
        return base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _ageTimer.Dispose();
        base.Dispose();
    }

    // Both loops block (on the channel, on the disk) by design, so each gets a thread of its own instead of borrowing
    // thread-pool threads.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.WhenAll(
        Task.Factory.StartNew(Gather, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default),
        Task.Factory.StartNew(_committer.Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));

    private void Gather()
    {
        try
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

            Seal(trigger: null, flush: null);
        }
        finally
        {
            _committer.Complete();
        }
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
                case { Line: { } line }:
                    Append(command, line);
                    break;
                case { AgeOfSequence: { } sequence }:
                    if (_open?.Sequence == sequence)
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

    private void Append(Command command, byte[] line)
    {
        if (Fault is { } fault)
        {
            command.Completion.TrySetException(new SpoolWriteException(fault));
            return;
        }

        var lineBytes = line.Length + NewLine.Length;
        if (_uploads.QueuedBytes + (_open?.Bytes ?? 0) + lineBytes > _spoolOptions.MaxBytes)
        {
            command.Completion.TrySetException(new SpoolFullException(_spoolOptions.MaxBytes));
            return;
        }

        // Bytes trigger: an object never grows past BATCH_MAX_BYTES (unless one event alone is larger).
        if (_open is { Events: > 0 } full && full.Bytes + lineBytes > _options.MaxBytes)
        {
            Seal(trigger: null, flush: null);
        }

        var open = _open ??= NewSegment();
        if (command.Origin != default && open.Origins.Count < SealedBatch.MaxOrigins)
        {
            open.Origins.Add(command.Origin);
        }
        _chunk.Write(line);
        _chunk.Write(NewLine);
        open.Events++;
        open.Bytes += lineBytes;
        var append = new PendingAppend(command.Completion, open.Events);
        _chunkAppends.Add(append);

        // Count trigger: the event that fills the batch seals it and names it in its own response.
        if (open.Events >= _options.BatchSize)
        {
            append.OpenEvents = 0;
            Seal(trigger: append, flush: null);
        }
        PublishOpenCounts();
    }

    /// <summary>
    /// Hands the committer the seal of the open segment together with its last gathered lines, as one piece of work,
    /// so the request that filled the batch cannot be answered before the batch it names exists.
    /// </summary>
    private void Seal(PendingAppend? trigger, TaskCompletionSource<AppendResult>? flush)
    {
        var work = new SealWork(_open, TakeChunk(), trigger, flush);
        // Counts first: once posted, the batch may be stored before this thread runs another line.
        _open = null;
        Volatile.Write(ref _openSequence, 0);
        _ageTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        PublishOpenCounts();
        _committer.Post(work);
    }

    private void PostChunk()
    {
        if (TakeChunk() is { } chunk)
        {
            _committer.Post(chunk);
        }
    }

    private ChunkWork? TakeChunk()
    {
        if (_chunkAppends.Count == 0)
        {
            return null;
        }
        var chunk = new ChunkWork(_open!, _chunk.WrittenSpan.ToArray(), [.. _chunkAppends]);
        _chunk.Clear();
        _chunkAppends.Clear();
        return chunk;
    }

    private SegmentPlan NewSegment()
    {
        var sequence = ++_lastSequence;
        var segment = new SegmentPlan(sequence, BatchKey.For(_time.GetUtcNow(), _options.InstanceId, sequence));
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

    private void PublishOpenCounts()
    {
        Volatile.Write(ref _openEvents, _open?.Events ?? 0);
        Interlocked.Exchange(ref _openBytes, _open?.Bytes ?? 0);
    }

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

    /// <summary>An append (<see cref="Line"/>), a seal (neither set) or the age trigger for one segment.</summary>
    private sealed record Command(byte[]? Line)
    {
        public long? AgeOfSequence { get; init; }

        public System.Diagnostics.ActivityContext Origin { get; init; }

        public TaskCompletionSource<AppendResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <param name="OpenEventCount">Events in the open batch after this request (0 when it sealed one).</param>
/// <param name="Sealed">The batch this request sealed, if it did.</param>
public sealed record AppendResult(int OpenEventCount, SealedBatch? Sealed);

/// <summary>The writer no longer accepts events because the service is stopping.</summary>
public sealed class IntakeClosedException() : Exception("The service is shutting down and accepts no more events.");

/// <summary>The spool holds as much as it may (<c>SPOOL_MAX_BYTES</c>): S3 is behind; try again later.</summary>
public sealed class SpoolFullException(long maxBytes)
    : Exception($"The spool is full ({maxBytes} bytes wait for S3); nothing was stored. Retry later.");

/// <summary>The disk refused the write; nothing of the request was stored.</summary>
public sealed class SpoolWriteException(string message) : Exception(message);
