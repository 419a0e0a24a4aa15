using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Storage;

namespace TrackMulti.Api.Batching;

/// <summary>
/// Owns the open batch. One loop reads append and seal requests from a channel, so the count trigger, a flush and
/// shutdown can never race, and no lock sits on the request path. The loop is also the single place where a
/// durable spool write (one fsync per drained group of requests) slots in.
/// </summary>
public sealed class BatchWriter(
    IOptions<BatchingOptions> options,
    UploadQueue uploads,
    TimeProvider time,
    ILogger<BatchWriter> logger) : BackgroundService
{
    private static readonly byte[] NewLine = "\n"u8.ToArray();

    private readonly Channel<Command> _commands = Channel.CreateBounded<Command>(
        new BoundedChannelOptions(10_000) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly BatchingOptions _options = options.Value;
    private readonly ArrayBufferWriter<byte> _open = new(64 * 1024);
    private int _openCount;
    private long _sequence;

    /// <summary>Events in the open (not yet sealed) batch.</summary>
    public int OpenEventCount => Volatile.Read(ref _openCount);

    public int MaxBatchSize => _options.BatchSize;

    /// <summary>Adds the event to the open batch; seals the batch when it is full and says so.</summary>
    /// <exception cref="IntakeClosedException">The service is shutting down.</exception>
    public async Task<AppendResult> AppendAsync(TrackEvent evt, CancellationToken cancellationToken)
    {
        var command = new Command(evt);
        await Send(command, cancellationToken);
        return await command.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Seals the open batch now, whatever its size. Returns null when it held no events.</summary>
    public async Task<SealedBatch?> SealAsync(CancellationToken cancellationToken)
    {
        var command = new Command(null);
        await Send(command, cancellationToken);
        return (await command.Completion.Task.WaitAsync(cancellationToken)).Sealed;
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        // Stop intake first; the loop finishes what was queued, seals the open batch and exits.
        _commands.Writer.TryComplete();
        return base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Deliberately not bound to stoppingToken: StopAsync completes the channel, and the loop must drain it.
        await foreach (var command in _commands.Reader.ReadAllAsync(CancellationToken.None))
        {
            try
            {
                command.Completion.TrySetResult(command.Event is { } evt ? Append(evt) : new AppendResult(0, Seal()));
            }
            catch (Exception ex)
            {
                command.Completion.TrySetException(ex);
            }
        }

        if (Seal() is { } last)
        {
            logger.LogInformation("Sealed {Events} pending events as {Key} at shutdown", last.EventCount, last.Key);
        }
    }

    private AppendResult Append(TrackEvent evt)
    {
        _open.Write(evt.ToJsonLine());
        _open.Write(NewLine);
        Volatile.Write(ref _openCount, _openCount + 1);

        var sealedBatch = _openCount >= _options.BatchSize ? Seal() : null;
        return new AppendResult(_openCount, sealedBatch);
    }

    private SealedBatch? Seal()
    {
        if (_openCount == 0)
        {
            return null;
        }

        var now = time.GetUtcNow();
        var sequence = ++_sequence;
        var batch = new SealedBatch(
            BatchKey.For(now, _options.InstanceId, sequence), sequence, _openCount, _open.WrittenMemory.ToArray(), now);
        _open.Clear();
        Volatile.Write(ref _openCount, 0);

        uploads.Enqueue(batch);
        logger.LogInformation("Sealed batch {Key} with {Events} events", batch.Key, batch.EventCount);
        return batch;
    }

    private async ValueTask Send(Command command, CancellationToken cancellationToken)
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

    private sealed record Command(TrackEvent? Event)
    {
        public TaskCompletionSource<AppendResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}

/// <param name="OpenEventCount">Events in the open batch after this request (0 when it sealed one).</param>
/// <param name="Sealed">The batch this request sealed, if it did.</param>
public sealed record AppendResult(int OpenEventCount, SealedBatch? Sealed);

/// <summary>The writer no longer accepts events because the service is stopping.</summary>
public sealed class IntakeClosedException() : Exception("The service is shutting down and accepts no more events.");
