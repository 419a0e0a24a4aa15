using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace TrackMulti.Api.Telemetry;

/// <summary>
/// Every TrackMulti metric, in one place: one meter, instrument names and units per OpenTelemetry conventions.
/// ServiceDefaults exports the meter (OTLP to the Aspire dashboard). Gauges read what their owners register
/// (<see cref="ObserveSpoolBytes"/>, …), so this class depends on no other part of the Api.
/// </summary>
public sealed class TrackMetrics
{
    public const string MeterName = "TrackMulti";

    public const string BatchSize = "trackmulti.batch.size";
    public const string FlushFailures = "trackmulti.flush.failures";
    public const string EventsAccepted = "trackmulti.events.accepted";
    public const string EventsRejected = "trackmulti.events.rejected";
    public const string EventsPending = "trackmulti.events.pending";
    public const string UploadDuration = "trackmulti.upload.duration";
    public const string UploadBytes = "trackmulti.upload.bytes";
    public const string UploadRetries = "trackmulti.upload.retries";
    public const string SpoolBytes = "trackmulti.spool.bytes";
    public const string SinkSent = "trackmulti.sink.sent";
    public const string SinkFailures = "trackmulti.sink.failures";
    public const string SinkDropped = "trackmulti.sink.dropped";
    public const string SinkBacklog = "trackmulti.sink.backlog";
    public const string SinkBacklogBytes = "trackmulti.sink.backlog.bytes";
    public const string ReplayEvents = "trackmulti.replay.events";

    /// <summary>The tag saying why (a failure, a rejection, a drop).</summary>
    public const string ReasonTag = "reason";

    /// <summary>The tag saying how an upload attempt ended: <c>success</c> or <c>failure</c>.</summary>
    public const string OutcomeTag = "outcome";

    /// <summary>The tag naming the sink (<c>s3</c>, <c>fme</c>).</summary>
    public const string SinkTag = "sink";

    /// <summary>The tag saying what became of a replayed row (<see cref="ReplayedStates"/>).</summary>
    public const string StateTag = "state";

    /// <summary>
    /// What becomes of a row a replay reads in its window: <c>sent</c> (FME accepted it), <c>refused</c> (FME refused
    /// its post as such), <c>no_key</c> (an event without a key), <c>unreadable</c> (no row of its stream).
    /// </summary>
    public static readonly IReadOnlyList<string> ReplayedStates = ["sent", "refused", "no_key", "unreadable"];

    private readonly Histogram<int> _batchSize;
    private readonly Histogram<double> _uploadDuration;
    // Counters are observable, over totals kept here: an exporter then sees each one, at zero, from the start
    // (a plain counter is exported only once something is counted, so a failure counter would be missing until the
    // first failure). Histograms stay plain: there is no honest zero for a distribution.
    private readonly Totals _flushFailures = new();
    private readonly Totals _eventsAccepted = new();
    private readonly Totals _eventsRejected = new();
    private readonly Totals _uploadBytes = new();
    private readonly Totals _uploadRetries = new();
    private readonly Totals _sinkSent = new();
    private readonly Totals _sinkFailures = new();
    private readonly Totals _sinkDropped = new();
    private readonly ConcurrentDictionary<string, long> _replayEvents = new(ReplayedStates.Select(state => KeyValuePair.Create(state, 0L)));
    private readonly ConcurrentDictionary<string, Func<(long Events, long Bytes)>> _backlogs = new();
    private Func<long> _spoolBytes = () => 0;
    private Func<int> _pendingEvents = () => 0;

    public TrackMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _batchSize = meter.CreateHistogram<int>(BatchSize, "{event}", "Events per batch uploaded to S3.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 10000] });
        _uploadDuration = meter.CreateHistogram<double>(UploadDuration, "s", "Duration of one S3 upload attempt.");
        meter.CreateObservableCounter(FlushFailures, () => _flushFailures.Measurements(), "{attempt}", "Failed S3 upload attempts, by reason.");
        meter.CreateObservableCounter(EventsAccepted, () => _eventsAccepted.Measurements(), "{event}", "Events acknowledged (stored in the spool).");
        meter.CreateObservableCounter(EventsRejected, () => _eventsRejected.Measurements(), "{event}", "Events refused, by reason; nothing of them was stored.");
        meter.CreateObservableCounter(UploadBytes, () => _uploadBytes.Measurements(), "By", "Bytes of batches confirmed by S3.");
        meter.CreateObservableCounter(UploadRetries, () => _uploadRetries.Measurements(), "{attempt}", "S3 upload attempts after the first for a batch.");
        meter.CreateObservableCounter(SinkSent, () => _sinkSent.Measurements(_backlogs.Keys), "{event}", "Events a sink delivered, by sink.");
        meter.CreateObservableCounter(SinkFailures, () => _sinkFailures.Measurements(_backlogs.Keys), "{attempt}", "Failed delivery attempts, by sink and reason.");
        meter.CreateObservableCounter(SinkDropped, () => _sinkDropped.Measurements(_backlogs.Keys), "{event}", "Events a sink will never deliver (they stay in S3), by sink and reason.");
        meter.CreateObservableCounter(ReplayEvents, () => _replayEvents.Select(entry => new Measurement<long>(entry.Value, new KeyValuePair<string, object?>(StateTag, entry.Key))),
            "{event}", "Rows of replay windows, by what became of them (state).");
        meter.CreateObservableGauge(EventsPending, () => _pendingEvents(), "{event}", "Events acknowledged but not yet confirmed in S3.");
        meter.CreateObservableGauge(SpoolBytes, () => _spoolBytes(), "By", "Bytes the spool holds.");
        meter.CreateObservableGauge(SinkBacklog, () => Backlogs(b => b.Events), "{event}", "Events waiting for a sink, by sink.");
        meter.CreateObservableGauge(SinkBacklogBytes, () => Backlogs(b => b.Bytes), "By", "Spool bytes waiting for a sink, by sink.");
    }

    public void ObserveSpoolBytes(Func<long> bytes) => _spoolBytes = bytes;

    public void ObservePendingEvents(Func<int> events) => _pendingEvents = events;

    public void ObserveSinkBacklog(string sink, Func<(long Events, long Bytes)> backlog) => _backlogs[sink] = backlog;

    public void Accepted(int events) => _eventsAccepted.Add(events);

    public void Rejected(string reason, int events = 1) => _eventsRejected.Add(events, reason: reason);

    /// <param name="attempt">1 for the first attempt at a batch, 2 for its first retry, and so on.</param>
    public void UploadAttempted(int attempt, TimeSpan duration, string? failureReason)
    {
        if (attempt > 1)
        {
            _uploadRetries.Add(1);
        }
        _uploadDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>(OutcomeTag, failureReason is null ? "success" : "failure"));
        if (failureReason is not null)
        {
            _flushFailures.Add(1, reason: failureReason);
        }
    }

    public void BatchUploaded(int events, long bytes)
    {
        _batchSize.Record(events);
        _uploadBytes.Add(bytes);
    }

    public void Delivered(string sink, long events) => _sinkSent.Add(events, sink: sink);

    public void DeliveryFailed(string sink, string reason) => _sinkFailures.Add(1, sink, reason);

    public void Dropped(string sink, long events, string reason) => _sinkDropped.Add(events, sink, reason);

    /// <param name="state">One of <see cref="ReplayedStates"/>.</param>
    public void Replayed(string state, long events) => _replayEvents.AddOrUpdate(state, events, (_, total) => total + events);

    private IEnumerable<Measurement<long>> Backlogs(Func<(long Events, long Bytes), long> pick) =>
        _backlogs.Select(entry => new Measurement<long>(pick(entry.Value()), new KeyValuePair<string, object?>(SinkTag, entry.Key)));

    /// <summary>A counter's running totals by tags (<see cref="SinkTag"/>, <see cref="ReasonTag"/>), as its callback reports them.</summary>
    private sealed class Totals
    {
        private readonly ConcurrentDictionary<(string? Sink, string? Reason), long> _totals = new();

        public void Add(long count, string? sink = null, string? reason = null) =>
            _totals.AddOrUpdate((sink, reason), count, (_, total) => total + count);

        /// <summary>
        /// Every total so far; before anything is counted, a zero: for each sink named in <paramref name="sinks"/> that
        /// has none yet (tagged with it alone), or untagged. A zero adds nothing to any sum across tags.
        /// </summary>
        public IEnumerable<Measurement<long>> Measurements(IEnumerable<string>? sinks = null)
        {
            var totals = _totals.ToArray();
            foreach (var ((sink, reason), total) in totals)
            {
                yield return new Measurement<long>(total, Tags(sink, reason));
            }
            var zeros = sinks is null ? [] : sinks.Where(name => !totals.Any(t => t.Key.Sink == name)).ToArray();
            foreach (var name in zeros)
            {
                yield return new Measurement<long>(0, Tags(name, null));
            }
            if (totals.Length == 0 && zeros.Length == 0)
            {
                yield return new Measurement<long>(0);
            }
        }

        private static KeyValuePair<string, object?>[] Tags(string? sink, string? reason) =>
        [
            .. sink is null ? [] : new[] { new KeyValuePair<string, object?>(SinkTag, sink) },
            .. reason is null ? [] : new[] { new KeyValuePair<string, object?>(ReasonTag, reason) },
        ];
    }
}
