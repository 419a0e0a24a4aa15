using Microsoft.Extensions.Options;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Sinks.Fme;

/// <summary>
/// Forwards the streams <c>FME_FORWARD</c> names to FME's events API by its posting rules (<see cref="FmeSender"/>):
/// events to <c>/events/bulk</c>, impressions to <c>/testImpressions/bulk</c>, counts to <c>/testImpressions/count</c>.
/// Progress is acknowledged after every post, so a crash sends again at most the post that was in flight: delivery to
/// FME is at-least-once (its API has no idempotency key). FME being down never holds back S3: its backlog waits in the
/// spool up to <c>FME_MAX_BACKLOG_BYTES</c>, past which the oldest is dropped for FME alone and logged with the S3 keys
/// that hold it (a replay delivers it later).
/// </summary>
public sealed class FmeSink : Sink
{
    public const string SinkName = "fme";

    private readonly FmeSender _sender;
    private readonly long _maxBacklogBytes;
    private readonly TrackMetrics _metrics;
    private readonly ILogger<FmeSink> _logger;

    public FmeSink(SpoolLog spool, FmeSender sender, IOptions<FmeOptions> options, TrackMetrics metrics, TimeProvider time, ILogger<FmeSink> logger)
        : base(spool, SinkName, options.Value.Takes, options.Value.MaxBacklogBytes, options.Value.PauseAfter, metrics, time, logger)
    {
        _sender = sender;
        _maxBacklogBytes = options.Value.MaxBacklogBytes;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>FME being down must not make shutdown wait: what is left is sent after the next start.</summary>
    protected override bool RetriesOnStop => false;

    /// <summary>Whether live forwarding keeps up: nothing waits beyond the batch in delivery, and the last round succeeded.</summary>
    public bool KeepsUp => Status() is { BacklogSegments: <= 1, ConsecutiveFailures: 0 };

    protected override async Task DeliverAsync(SealedSegment segment, CancellationToken cancellationToken)
    {
        await using var content = Cursor.OpenRead(segment);
        await _sender.SendAsync(segment.Stream, FmeSender.ReadLinesAsync(content), Cursor.EventsDone(segment), segment.Key, segment.Origins,
            sent =>
            {
                if (sent.Sent > 0)
                {
                    _metrics.Delivered(SinkName, sent.Sent);
                }
                if (sent.Refused > 0)
                {
                    Dropped(sent.Refused, "rejected", $"{sent.Refusal} for {sent.Refused} rows of {segment.Key} (in S3)");
                }
                if (sent.WithoutKey > 0)
                {
                    Dropped(sent.WithoutKey, "no_key", $"{sent.WithoutKey} events of {segment.Key} have no key (in S3)");
                }
                if (sent.Unreadable > 0)
                {
                    Dropped(sent.Unreadable, "unreadable", $"{sent.Unreadable} rows of {segment.Key} are not {segment.Stream} rows");
                }
                return Cursor.Acknowledge(segment, sent.RowsThrough); // false: dropped for FME while it was being sent
            },
            beforePost: null, failuresCountFor: SinkName, cancellationToken);
    }

    protected override SinkFailure Describe(Exception exception) =>
        new(FmeFaults.Reason(exception), FmeFaults.Describe(exception), FmeFaults.IsTransient(exception));

    protected override void OnBacklogDropped(SpoolDrop drop)
    {
        _logger.LogError(
            "The FME backlog passed FME_MAX_BACKLOG_BYTES ({Max} bytes): {Events} events of {Key} are not forwarded to FME (they are in S3 under that key)",
            _maxBacklogBytes, drop.Events, drop.Segment.Key);
        Dropped(drop.Events, "backlog_full", $"{drop.Events} events of {drop.Segment.Key} (in S3)");
    }
}
