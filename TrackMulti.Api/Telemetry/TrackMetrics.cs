using System.Diagnostics.Metrics;
using TrackMulti.Api.Batching;
using TrackMulti.Api.Storage;

namespace TrackMulti.Api.Telemetry;

/// <summary>
/// Every TrackMulti metric, in one place: one meter, instrument names and units per OpenTelemetry conventions.
/// ServiceDefaults exports the meter (OTLP to the Aspire dashboard).
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

    /// <summary>The tag saying why (a failure, a rejection).</summary>
    public const string ReasonTag = "reason";

    /// <summary>The tag saying how an upload attempt ended: <c>success</c> or <c>failure</c>.</summary>
    public const string OutcomeTag = "outcome";

    private readonly Histogram<int> _batchSize;
    private readonly Counter<long> _flushFailures;
    private readonly Counter<long> _eventsAccepted;
    private readonly Counter<long> _eventsRejected;
    private readonly Histogram<double> _uploadDuration;
    private readonly Counter<long> _uploadBytes;
    private readonly Counter<long> _uploadRetries;

    public TrackMetrics(IMeterFactory meterFactory, BatchWriter writer, UploadQueue uploads)
    {
        var meter = meterFactory.Create(MeterName);
        _batchSize = meter.CreateHistogram<int>(BatchSize, "{event}", "Events per batch uploaded to S3.",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 10000] });
        _flushFailures = meter.CreateCounter<long>(FlushFailures, "{attempt}", "Failed upload attempts, by reason.");
        _eventsAccepted = meter.CreateCounter<long>(EventsAccepted, "{event}", "Events acknowledged (stored in the spool).");
        _eventsRejected = meter.CreateCounter<long>(EventsRejected, "{event}", "Events refused, by reason; nothing of them was stored.");
        _uploadDuration = meter.CreateHistogram<double>(UploadDuration, "s", "Duration of one upload attempt.");
        _uploadBytes = meter.CreateCounter<long>(UploadBytes, "By", "Bytes of batches confirmed by S3.");
        _uploadRetries = meter.CreateCounter<long>(UploadRetries, "{attempt}", "Upload attempts after the first for a batch.");
        meter.CreateObservableGauge(EventsPending, () => writer.OpenEventCount + uploads.Status().Events, "{event}",
            "Events acknowledged but not yet confirmed in S3.");
        meter.CreateObservableGauge(SpoolBytes, () => writer.OpenBytes + uploads.QueuedBytes, "By", "Bytes the spool holds.");
    }

    public void EventAccepted() => _eventsAccepted.Add(1);

    public void EventRejected(string reason) => _eventsRejected.Add(1, new KeyValuePair<string, object?>(ReasonTag, reason));

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
            _flushFailures.Add(1, new KeyValuePair<string, object?>(ReasonTag, failureReason));
        }
    }

    public void BatchUploaded(SealedBatch batch)
    {
        _batchSize.Record(batch.EventCount);
        _uploadBytes.Add(batch.ByteCount);
    }
}
