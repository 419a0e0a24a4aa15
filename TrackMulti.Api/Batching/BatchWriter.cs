using System.Threading.Channels;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Storage;

namespace TrackMulti.Api.Batching;

/// <summary>
/// Owns the open batch, which is a spool segment on disk. One loop reads append, seal and age messages from a channel:
/// it takes every request waiting, writes their lines with one fsync (group commit), and only then acknowledges them.
/// Count, byte and age triggers, flushes and shutdown are all decided in this loop, so they cannot race, and no lock
/// sits on the request path.
/// </summary>
public sealed class BatchWriter : BackgroundService
{
    /// <summary>Requests written with one fsync at most; bounds the latency of the first request in a group.</summary>
    private const int MaxGroupSize = 1024;

    // Unbounded is safe: every command is a request (or flush) that awaits its answer, so the queue never holds more
    // than the requests in flight, which Kestrel's connection limits bound. It is also the cheaper channel.
    private readonly Channel<Command> _commands = Channel.CreateUnbounded<Command>(new UnboundedChannelOptions { SingleReader = true });

    private readonly BatchingOptions _options;
    private readonly SpoolOptions _spoolOptions;
    private readonly SpoolDirectory _spool;
    private readonly UploadQueue _uploads;
    private readonly TimeProvider _time;
    private readonly ILogger<BatchWriter> _logger;
    private readonly ITimer _ageTimer;
    private readonly List<Pending> _uncommitted = [];
    private readonly List<Pending> _committed = [];

    private OpenSegment? _open;
    private long _lastSequence;
    private int _openEvents;
    private long _openBytes;
    private long _openSequence;
    private string? _fault;

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
        _ageTimer = time.CreateTimer(_ => OnAgeTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Events in the open (not yet sealed) batch.</summary>
    public int OpenEventCount => Volatile.Read(ref _openEvents);

    /// <summary>Bytes in the open batch's segment.</summary>
    public long OpenBytes => Interlocked.Read(ref _openBytes);

    public int MaxBatchSize => _options.BatchSize;

    /// <summary>Stores the event durably in the open batch; seals the batch when it is full and says so.</summary>
    /// <exception cref="IntakeClosedException">The service is shutting down.</exception>
    /// <exception cref="SpoolFullException">The spool has reached <c>SPOOL_MAX_BYTES</c>.</exception>
    /// <exception cref="SpoolWriteException">The disk refused the write (full, failing).</exception>
    public async Task<AppendResult> AppendAsync(TrackEvent evt, CancellationToken cancellationToken)
    {
        var command = new Command(evt.ToJsonLine());
        await SendAsync(command, cancellationToken);
        return await command.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Seals the open batch now, whatever its size. Returns null when it held no events.</summary>
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
        // Stop intake first; the loop finishes what was queued, seals the open batch and exits.
        _commands.Writer.TryComplete();
        return base.StopAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _ageTimer.Dispose();
        _open?.Dispose();
        base.Dispose();
    }

    // The loop does blocking file I/O (write, fsync) by design, so it gets a thread of its own instead of
    // borrowing thread-pool threads between awaits.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(RunLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void RunLoop()
    {
        // Deliberately not bound to a stopping token: StopAsync completes the channel, and the loop must drain it.
        while (WaitToRead())
        {
            for (var taken = 0; taken < MaxGroupSize && _commands.Reader.TryRead(out var command); taken++)
            {
                Handle(command);
            }
            CommitOpenSegment();
            Acknowledge();
        }

        if (SealOpen() is { } last)
        {
            _logger.LogInformation("Sealed {Events} pending events as {Key} at shutdown", last.EventCount, last.Key);
        }
    }

    private bool WaitToRead()
    {
        var ready = _commands.Reader.WaitToReadAsync();
        return ready.IsCompletedSuccessfully ? ready.Result : ready.AsTask().GetAwaiter().GetResult();
    }

    private void Handle(Command command)
    {
        switch (command)
        {
            case { Line: { } line }:
                Append(command, line);
                break;
            case { AgeOfSequence: { } sequence }:
                if (_open?.Sequence == sequence)
                {
                    SealOpen();
                }
                break;
            default:
                var sealedBatch = SealOpen();
                if (_fault is null || sealedBatch is not null)
                {
                    command.Completion.TrySetResult(new AppendResult(0, sealedBatch));
                }
                else
                {
                    command.Completion.TrySetException(new SpoolWriteException(_fault));
                }
                break;
        }
    }

    private void Append(Command command, byte[] line)
    {
        if (_fault is not null)
        {
            command.Completion.TrySetException(new SpoolWriteException(_fault));
            return;
        }

        var lineBytes = line.Length + 1;
        if (_uploads.QueuedBytes + (_open?.Bytes ?? 0) + lineBytes > _spoolOptions.MaxBytes)
        {
            command.Completion.TrySetException(new SpoolFullException(_spoolOptions.MaxBytes));
            return;
        }

        // Bytes trigger: an object never grows past BATCH_MAX_BYTES (unless one event alone is larger).
        if (_open is { Events: > 0 } full && full.Bytes + lineBytes > _options.MaxBytes)
        {
            SealOpen();
        }

        try
        {
            _open ??= OpenNewSegment();
        }
        catch (IOException ex)
        {
            command.Completion.TrySetException(new SpoolWriteException($"The spool cannot create a segment: {ex.Message}"));
            return;
        }

        _open.Append(line);
        var pending = new Pending(command, _open.Events);
        _uncommitted.Add(pending);
        PublishOpenCounts();

        // Count trigger: the event that fills the batch seals it and names it in its own response.
        if (_open.Events >= _options.BatchSize)
        {
            pending.Sealed = SealOpen();
            pending.OpenEvents = 0;
        }
    }

    /// <summary>
    /// fsyncs what the open segment gathered since the last commit. Those requests become acknowledgeable; on failure
    /// the segment is rolled back and exactly those requests are refused.
    /// </summary>
    private void CommitOpenSegment()
    {
        if (_uncommitted.Count == 0)
        {
            return;
        }

        try
        {
            _open?.Commit();
            _committed.AddRange(_uncommitted);
        }
        catch (IOException ex)
        {
            _logger.LogError(ex, "Spool write failed; refusing {Requests} events", _uncommitted.Count);
            var error = new SpoolWriteException($"The spool could not store the event: {ex.Message}");
            foreach (var pending in _uncommitted)
            {
                pending.Command.Completion.TrySetException(error);
            }
            if (_open is { IsBroken: true })
            {
                _fault = "The spool's open segment could not be repaired after a failed write; restart the Api.";
                _logger.LogCritical("{Fault}", _fault);
            }
            PublishOpenCounts();
        }
        _uncommitted.Clear();
    }

    /// <summary>Answers every request whose event is on disk (fsynced).</summary>
    private void Acknowledge()
    {
        foreach (var pending in _committed)
        {
            pending.Command.Completion.TrySetResult(new AppendResult(pending.OpenEvents, pending.Sealed));
        }
        _committed.Clear();
    }

    private SealedBatch? SealOpen()
    {
        CommitOpenSegment();
        if (_open is null || _open.Events == 0 || _open.IsBroken)
        {
            return null;
        }

        SealedBatch sealedBatch;
        try
        {
            sealedBatch = _open.Seal(_spool);
        }
        catch (IOException ex)
        {
            // The events are durable in open/; the next start's recovery seals them under the same key.
            _fault = $"The spool could not seal {_open.Key}: {ex.Message}";
            _logger.LogCritical(ex, "{Fault}", _fault);
            return null;
        }

        _open = null;
        Volatile.Write(ref _openSequence, 0);
        _ageTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        PublishOpenCounts();
        _uploads.Enqueue(sealedBatch);
        _logger.LogInformation("Sealed batch {Key} with {Events} events", sealedBatch.Key, sealedBatch.EventCount);
        return sealedBatch;
    }

    private OpenSegment OpenNewSegment()
    {
        var sequence = _lastSequence + 1;
        var now = _time.GetUtcNow();
        var segment = OpenSegment.Create(_spool, sequence, BatchKey.For(now, _options.InstanceId, sequence), now);
        _lastSequence = sequence;
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

        public TaskCompletionSource<AppendResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Pending(Command command, int openEvents)
    {
        public Command Command { get; } = command;
        public int OpenEvents { get; set; } = openEvents;
        public SealedBatch? Sealed { get; set; }
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
