using System.Diagnostics;
using TrackMulti.Api.Pipeline;

namespace TrackMulti.Api.Spool;

/// <summary>
/// A segment whose content is final: NDJSON lines, one per event, as the producers wrote them. The spool
/// keeps it until every sink that takes it has acknowledged it.
/// </summary>
/// <param name="Sequence">Its place in the log: sealed segments are delivered to each sink in this order.</param>
/// <param name="Key">The name the producer chose when it opened the segment (the object key); the spool only keeps it.</param>
/// <param name="Stream">Which stream the lines belong to, so a sink can take some streams and pass over others.</param>
/// <param name="SealedAt">When it was sealed (after a restart: when its file was last written).</param>
public sealed record SealedSegment(long Sequence, string Key, string Stream, int Events, long Bytes, DateTimeOffset SealedAt)
{
    /// <summary>Most trace contexts a segment keeps for the spans that deliver it.</summary>
    public const int MaxOrigins = 32;

    /// <summary>
    /// Trace contexts of (at most <see cref="MaxOrigins"/>) requests whose events the segment holds, so a delivery span
    /// can link back to them. In memory only: a segment recovered from disk has none.
    /// </summary>
    public IReadOnlyList<ActivityContext> Origins { get; init; } = [];

    /// <summary>The segment as the pipeline's producers see it.</summary>
    public SealedBatch AsBatch() => new(Sequence, Key, Stream, Events, Bytes);
}

/// <summary>
/// A segment the producer is about to write: its number (from <see cref="SpoolLog.NextSequence"/>, part of its key;
/// its place in the log, <see cref="SealedSegment.Sequence"/>, is given when it is sealed), key and stream.
/// </summary>
public sealed record SegmentId(long Number, string Key, string Stream);

/// <summary>Where a sink stands: every segment before <paramref name="Sequence"/> is done, and the first <paramref name="Events"/> of it.</summary>
public readonly record struct SpoolPosition(long Sequence, int Events);
