using System.Diagnostics;

namespace TrackMulti.Api.Pipeline;

/// <summary>
/// The pipeline's producer face: what the endpoints and replays store events through, without knowing the batcher,
/// the spool or a sink. Batching implements it; the composition root wires it.
/// </summary>
public interface IEventPipeline
{
    /// <summary>
    /// Stores the events (NDJSON lines, no newlines) of <paramref name="stream"/> durably, together, in its open batch
    /// in the partition of <paramref name="receivedAt"/>, and answers once all are stored; seals the batch when they
    /// fill it, and seals first when they would not fit. Once begun, the append ends whether or not its caller waits.
    /// </summary>
    /// <param name="origin">The trace context of the request that carried them (delivery spans link to it).</param>
    /// <exception cref="IntakeClosedException">The service is shutting down.</exception>
    /// <exception cref="SpoolFullException">The spool has reached <c>SPOOL_MAX_BYTES</c>.</exception>
    /// <exception cref="SpoolWriteException">The disk refused the write (full, failing).</exception>
    Task<AppendResult> AppendAsync(string stream, IReadOnlyList<byte[]> lines, DateTimeOffset receivedAt, ActivityContext origin);

    /// <summary>Seals every stream's open batch, whatever its size; the batches sealed, events first.</summary>
    /// <exception cref="IntakeClosedException">The service is shutting down.</exception>
    /// <exception cref="SpoolWriteException">The spool refused a seal.</exception>
    Task<IReadOnlyList<SealedBatch>> SealAllAsync(CancellationToken cancellationToken);

    /// <summary>The open batch of <paramref name="stream"/>: events in it and how many seal it (<c>BATCH_SIZE</c>).</summary>
    OpenBatch OpenBatch(string stream);

    /// <summary>
    /// The longest a batch stays open (<c>BATCH_MAX_AGE_SECONDS</c>): its rows were received at most this long after
    /// the time in its key.
    /// </summary>
    TimeSpan MaxBatchAge { get; }
}

/// <param name="Events">Events in it, acknowledged or about to be.</param>
/// <param name="MaxEvents">The count that seals it (<c>BATCH_SIZE</c>).</param>
public readonly record struct OpenBatch(int Events, int MaxEvents);

/// <summary>A batch whose content is final, on its way to every destination under <paramref name="Key"/>.</summary>
/// <param name="Sequence">Its place in the log: batches are delivered to each destination in this order.</param>
/// <param name="Bytes">Its lines, a newline after each.</param>
public sealed record SealedBatch(long Sequence, string Key, string Stream, int Events, long Bytes);

/// <param name="OpenEventCount">Events in the open batch after this request (0 when it sealed one).</param>
/// <param name="Seals">The batches this request sealed, in order.</param>
public sealed record AppendResult(int OpenEventCount, IReadOnlyList<SealedBatch> Seals)
{
    /// <summary>The last batch this request sealed (the one holding its events, when it filled it), if any.</summary>
    public SealedBatch? Sealed => Seals.Count > 0 ? Seals[^1] : null;
}

/// <summary>The pipeline no longer accepts events because the service is stopping.</summary>
public sealed class IntakeClosedException() : Exception("The service is shutting down and accepts no more events.");

/// <summary>The spool holds as much as it may (<c>SPOOL_MAX_BYTES</c>): a sink is behind; try again later.</summary>
public sealed class SpoolFullException(long maxBytes)
    : Exception($"The spool is full ({maxBytes} bytes wait for delivery); nothing was stored. Retry later.");

/// <summary>The disk refused the write; nothing of the request was stored.</summary>
public sealed class SpoolWriteException(string message) : Exception(message);
