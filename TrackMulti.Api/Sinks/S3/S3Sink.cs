using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;
using TrackMulti.Api.Model;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Sinks.S3;

/// <summary>
/// The record: every sealed segment, whatever its stream, becomes one object under the key fixed when it was opened,
/// encoded as the key says (NDJSON, gzip, Parquet) from the segment's lines. Each round is one run of the Polly
/// pipeline (quick retries with backoff and a per-attempt timeout); a segment is never given up on. Because the key
/// is fixed and the encoding gives the same bytes for the same lines, a retry after an ambiguous failure writes the
/// same object again: exactly one object per batch.
/// </summary>
public sealed class S3Sink : Sink, IRecord, IBackPressure
{
    public const string SinkName = "s3";
    public const string PipelineName = "s3-upload";

    private readonly IObjectStore _store;
    private readonly UploadOptions _options;
    private readonly int _concurrency;
    private readonly ResiliencePipeline _pipeline;
    private readonly TrackMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<S3Sink> _logger;

    public S3Sink(
        SpoolLog spool, IObjectStore store, ResiliencePipelineProvider<string> pipelines, IOptions<UploadOptions> options,
        TrackMetrics metrics, TimeProvider time, ILogger<S3Sink> logger)
        : base(spool, SinkName, takes: _ => true, maxBacklogBytes: null, options.Value.PauseAfter, metrics, time, logger)
    {
        _store = store;
        _options = options.Value;
        _concurrency = options.Value.Concurrency;
        _pipeline = pipelines.GetPipeline(PipelineName);
        _metrics = metrics;
        _time = time;
        _logger = logger;
        // Pending: acknowledged but not yet in S3, the open segment included.
        metrics.ObservePendingEvents(() => spool.OpenEvents + (int)Cursor.Backlog.Events);
    }

    public string Location => _store.Location;

    public async Task<RecordConfirmation> ConfirmAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.FlushTimeout);
        try
        {
            var drained = await DrainAsync(deadline.Token);
            return drained.Succeeded ? RecordConfirmation.Done : new RecordConfirmation(false, [.. drained.StillQueued.Select(segment => segment.AsBatch())], drained.Error);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new RecordConfirmation(false, [.. Pending().Select(segment => segment.AsBatch())],
                $"S3 did not confirm every batch within {_options.FlushTimeout.TotalSeconds:0} s; uploading goes on in the background.");
        }
    }

    /// <summary>After the next round: the pause that follows the failures so far (at least one, as the spool is full).</summary>
    public TimeSpan RetryAfterFull() => _options.PauseAfter(Math.Max(1, Status().ConsecutiveFailures));

    protected override int Concurrency => _concurrency;

    protected override async Task DeliverAsync(SealedSegment segment, CancellationToken cancellationToken)
    {
        using var span = TrackTracing.StartDelivery(TrackTracing.UploadSpanName, segment.Origins);
        span?.SetTag("aws.s3.bucket", _store.Location);
        span?.SetTag("aws.s3.key", segment.Key);
        span?.SetTag("trackmulti.batch.events", segment.Events);
        // Encoded once per delivery, so every attempt sends the same bytes; a plain NDJSON key is sent from the file.
        var encoded = ObjectLayout.IsEncoded(segment.Key) ? await EncodeAsync(segment, cancellationToken) : null;
        var bytes = encoded?.Length ?? segment.Bytes;
        span?.SetTag("trackmulti.batch.bytes", bytes);
        var attempts = 0;
        try
        {
            await _pipeline.ExecuteAsync(async ct =>
            {
                var attempt = ++attempts;
                var started = _time.GetTimestamp();
                try
                {
                    await using var content = encoded is null ? Cursor.OpenRead(segment) : new MemoryStream(encoded, writable: false);
                    await _store.PutAsync(segment.Key, segment.Stream, content, segment.Events, ct);
                    _metrics.UploadAttempted(attempt, _time.GetElapsedTime(started), failureReason: null);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    // Every failed attempt counts, the ones Polly retries too; a cancelled attempt is the attempt timeout.
                    var reason = S3Faults.Reason(ex);
                    _metrics.UploadAttempted(attempt, _time.GetElapsedTime(started), reason);
                    _metrics.DeliveryFailed(SinkName, reason);
                    throw;
                }
            }, cancellationToken);
        }
        catch (Exception ex)
        {
            span?.SetTag("trackmulti.upload.attempts", attempts);
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, S3Faults.Reason(ex));
            throw;
        }

        span?.SetTag("trackmulti.upload.attempts", attempts);
        _metrics.BatchUploaded(segment.Events, bytes);
        _metrics.Delivered(SinkName, segment.Events);
        _logger.LogInformation("Uploaded {Key} ({Events} events, {Bytes} bytes)", segment.Key, segment.Events, bytes);
    }

    private async Task<byte[]> EncodeAsync(SealedSegment segment, CancellationToken cancellationToken)
    {
        await using var lines = Cursor.OpenRead(segment);
        using var encoded = new MemoryStream();
        // Parquet.Net and GZipStream read synchronously: off the caller's thread, it is CPU work of its own.
        await Task.Run(() => ObjectLayout.Encode(segment.Key, segment.Stream, lines, encoded), cancellationToken);
        return encoded.ToArray();
    }

    protected override SinkFailure Describe(Exception exception) =>
        new(S3Faults.Reason(exception), S3Faults.Describe(exception), S3Faults.IsTransient(exception));
}
