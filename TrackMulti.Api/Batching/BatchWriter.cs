using System.Diagnostics;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Spool;

namespace TrackMulti.Api.Batching;

/// <summary>
/// Owns the open batch of one stream (<see cref="Batches"/> holds one per stream): a segment of the spool, appended to
/// on each request's own thread. The seal triggers are decided at reservation: the request that fills the batch
/// (<c>BATCH_SIZE</c>) seals it and names it in its answer; one that would take it past <c>BATCH_SIZE</c> or
/// <c>BATCH_MAX_BYTES</c>, or that belongs to another partition, seals it and goes on in the next; the age timer and a
/// flush seal whatever is open. No lock and no hand-over sits on the path of an append but the opening of a segment.
/// </summary>
public sealed class BatchWriter : IHostedService, IDisposable
{
    private readonly BatchingOptions _options;
    private readonly ObjectLayout _layout;
    private readonly SpoolLog _spool;
    private readonly TimeProvider _time;
    private readonly ILogger<BatchWriter> _logger;
    private readonly ITimer _ageTimer;
    private readonly SegmentLimits _limits;
    private readonly Lock _opening = new();
    private WriterBatch? _open;
    private bool _closing; // written under _opening

    public BatchWriter(
        string stream, IOptions<BatchingOptions> options, IOptions<ObjectLayout> layout, SpoolLog spool, TimeProvider time, ILogger<BatchWriter> logger)
    {
        Stream = stream;
        _options = options.Value;
        _layout = layout.Value;
        _spool = spool;
        _time = time;
        _logger = logger;
        _limits = new SegmentLimits(_options.BatchSize, _options.MaxBytes);
        _ageTimer = time.CreateTimer(_ => OnAgeTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The stream this writer's batches belong to.</summary>
    public string Stream { get; }

    /// <summary>Events in the open (not yet sealed) batch, acknowledged or about to be.</summary>
    public int OpenEventCount => Volatile.Read(ref _open) is { Segment: { IsClosed: false } segment } ? segment.Events : 0;

    public int MaxBatchSize => _options.BatchSize;

    /// <summary>Stores the event (one NDJSON line, no newline) durably in the open batch; seals the batch when it is full and says so.</summary>
    /// <exception cref="IntakeClosedException">The service is shutting down.</exception>
    /// <exception cref="SpoolFullException">The spool has reached <c>SPOOL_MAX_BYTES</c>.</exception>
    /// <exception cref="SpoolWriteException">The disk refused the write (full, failing).</exception>
    /// <param name="origin">The trace context of the request that carried the event (delivery spans link to it).</param>
    public Task<AppendResult> AppendAsync(byte[] line, CancellationToken cancellationToken, ActivityContext origin = default) =>
        AppendAsync([line], _time.GetUtcNow(), origin);

    /// <summary>As <see cref="AppendAsync(IReadOnlyList{byte[]}, CancellationToken, ActivityContext)"/>, into the partition of <paramref name="receivedAt"/>.</summary>
    public Task<AppendResult> AppendAsync(
        IReadOnlyList<byte[]> lines, DateTimeOffset receivedAt, CancellationToken cancellationToken, ActivityContext origin = default) =>
        AppendAsync(lines, receivedAt, origin);

    /// <summary>
    /// Stores all the events (NDJSON lines, no newlines) durably, together, in one segment, and answers once all are
    /// stored. Seals before them when they would not fit in the open batch. Not given up when the caller goes: once
    /// begun, the append ends either way.
    /// </summary>
    public Task<AppendResult> AppendAsync(IReadOnlyList<byte[]> lines, CancellationToken cancellationToken, ActivityContext origin = default) =>
        AppendAsync(lines, _time.GetUtcNow(), origin);

    private async Task<AppendResult> AppendAsync(IReadOnlyList<byte[]> lines, DateTimeOffset receivedAt, ActivityContext origin)
    {
        if (_spool.Fault is { } fault)
        {
            throw new SpoolWriteException(fault);
        }
        long bytes = lines.Count; // a newline after each
        foreach (var line in lines)
        {
            bytes += line.Length;
        }
        if (!_spool.TryReserve(bytes))
        {
            throw new SpoolFullException(_spool.MaxBytes);
        }

        var partition = _layout.PartitionOf(receivedAt);
        List<Task<SealResult>>? seals = null; // the seals this request set off, in order
        WriterBatch batch;
        Reservation reservation;
        try
        {
            while (true)
            {
                batch = Current(receivedAt, partition);
                if (batch.Partition == partition)
                {
                    reservation = batch.Segment.Reserve(lines.Count, bytes);
                    if (reservation.IsTaken)
                    {
                        break;
                    }
                    if (reservation.Outcome == ReserveOutcome.Closed)
                    {
                        continue;
                    }
                }
                // It would not fit, or its rows belong to another partition: seal the open batch and go on in the next.
                if (batch.Segment.Close())
                {
                    (seals ??= []).Add(Seal(batch));
                }
            }
        }
        catch
        {
            _spool.Release(bytes);
            throw;
        }

        batch.Segment.AddOrigin(origin);
        var filled = reservation.Outcome == ReserveOutcome.TakenAndFull;
        Exception? failed = null;
        try
        {
            batch.Segment.Write(lines, reservation, bytes);
        }
        catch (Exception ex)
        {
            failed = ex;
        }
        if (filled)
        {
            (seals ??= []).Add(Seal(batch)); // the count trigger: its own lines are made durable by the seal's sync
        }
        if (failed is not null)
        {
            _logger.LogError(failed, "Spool write failed; refusing {Events} events", lines.Count);
            throw new SpoolWriteException($"The spool could not store the event: {failed.Message}");
        }

        var durable = filled ? null : _spool.Written(batch.Segment);
        List<SealedBatch>? sealedBatches = null;
        for (var i = 0; i < (seals?.Count ?? 0); i++)
        {
            var result = await seals![i];
            if (result.Sealed is { } sealedSegment)
            {
                (sealedBatches ??= []).Add(sealedSegment.AsBatch());
            }
            if (filled && i == seals.Count - 1 && !result.Durable)
            {
                throw new SpoolWriteException(_spool.Fault ?? $"The spool could not seal {batch.Segment.Id.Key}.");
            }
        }
        if (durable is not null)
        {
            await durable;
        }
        return new AppendResult(filled ? 0 : reservation.EventsAfter, (IReadOnlyList<SealedBatch>?)sealedBatches ?? []);
    }

    /// <summary>
    /// Seals the open batch now, whatever its size, once every earlier seal is done. Returns null when it held no events.
    /// </summary>
    /// <exception cref="IntakeClosedException">The service is shutting down.</exception>
    /// <exception cref="SpoolWriteException">The spool is faulted.</exception>
    public async Task<SealedBatch?> SealAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _closing))
        {
            throw new IntakeClosedException();
        }
        var result = await SealOpen().WaitAsync(cancellationToken);
        return result.Durable
            ? result.Sealed is { } sealedSegment ? sealedSegment.AsBatch() : null
            : throw new SpoolWriteException(_spool.Fault ?? "The spool could not seal the batch.");
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Stops intake and seals the open batch, so the sinks that stop after this can deliver it.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_opening)
        {
            _closing = true;
        }
        _ageTimer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        try
        {
            // A faulted spool refuses it; recovery seals that segment on the next start.
            await SealOpen().WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("The last seal of stream {Stream} did not end in time; recovery seals it on the next start", Stream);
        }
    }

    public void Dispose() => _ageTimer.Dispose();

    /// <summary>Seals the open batch if it holds events; otherwise waits for the seals asked for before.</summary>
    private Task<SealResult> SealOpen()
    {
        var open = Volatile.Read(ref _open);
        return open is { Segment.Events: > 0 } && open.Segment.Close() ? Seal(open) : _spool.SealAsync(null);
    }

    private Task<SealResult> Seal(WriterBatch batch) => _spool.SealAsync(batch.Segment);

    /// <summary>The open batch, or a new one when it is closed (opening is the one step under a lock).</summary>
    private WriterBatch Current(DateTimeOffset receivedAt, string partition)
    {
        var open = Volatile.Read(ref _open);
        if (open is { Segment.IsClosed: false })
        {
            return open;
        }
        lock (_opening)
        {
            if (_closing)
            {
                throw new IntakeClosedException();
            }
            open = _open;
            if (open is null || open.Segment.IsClosed)
            {
                var number = _spool.NextSequence();
                var key = BatchKey.For(Stream, receivedAt, _spool.InstanceId, number, _layout);
                open = new WriterBatch(_spool.Open(new SegmentId(number, key, Stream), _limits), partition, _time.GetTimestamp());
                Volatile.Write(ref _open, open);
                _ageTimer.Change(_options.MaxAge, Timeout.InfiniteTimeSpan);
            }
            return open;
        }
    }

    /// <summary>Runs on a timer thread: seals the open batch once its first event is <c>BATCH_MAX_AGE_SECONDS</c> old.</summary>
    private void OnAgeTimer()
    {
        if (Volatile.Read(ref _open) is not { Segment.IsClosed: false } open)
        {
            return;
        }
        var left = _options.MaxAge - _time.GetElapsedTime(open.OpenedAt);
        if (left > TimeSpan.Zero)
        {
            _ageTimer.Change(left, Timeout.InfiniteTimeSpan); // a batch opened as the timer fired for the one before
        }
        else if (open.Segment.Close())
        {
            _ = Seal(open);
        }
    }

    /// <summary>The open segment, and the partition every row of it lies in (<see cref="ObjectLayout.PartitionOf"/>).</summary>
    private sealed record WriterBatch(OpenSegment Segment, string Partition, long OpenedAt);
}
