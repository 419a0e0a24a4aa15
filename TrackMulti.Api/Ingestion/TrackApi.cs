using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Batching;
using TrackMulti.Api.Sinks;
using TrackMulti.Api.Sinks.Fme;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Ingestion;

/// <summary>The seed's API: <c>POST /api/track</c>, <c>POST /api/flush</c>, <c>GET /api/status</c>, same shapes.</summary>
public static class TrackApi
{
    public static RouteGroupBuilder MapTrackApi(this IEndpointRouteBuilder app)
    {
        var options = app.ServiceProvider.GetRequiredService<IOptions<IngestionOptions>>().Value;
        var api = app.MapGroup("/api");
        if (options.CorsOrigins.Length > 0)
        {
            api.RequireCors(IngestionExtensions.CorsPolicy);
        }

        // One event is small: anything larger is refused by Kestrel before it is read (413).
        api.MapPost("/track", TrackAsync)
            .WithMetadata(new RequestSizeLimitAttribute(options.MaxTrackBodyBytes))
            .RequireRateLimiting(IngestionExtensions.PerClientPolicy)
            .RequireIngestKey();
        api.MapPost("/flush", FlushAsync).RequireAdminKey();
        api.MapGet("/status", GetStatus);
        api.MapGet("/objects", ListObjectsAsync).RequireAdminKey();
        return api;
    }

    public static async Task<Results<Ok<TrackResponse>, ProblemHttpResult, ValidationProblem>> TrackAsync(
        HttpRequest request, BatchWriter writer, S3Sink s3, IOptions<UploadOptions> upload,
        TrackMetrics metrics, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!request.HasJsonContentType())
        {
            metrics.EventRejected("unsupported_media_type");
            return TypedResults.Problem(
                statusCode: StatusCodes.Status415UnsupportedMediaType,
                type: Problems.UnsupportedMediaType,
                title: "Unsupported content type",
                detail: "Send the event as JSON with 'Content-Type: application/json'.");
        }

        TrackEventReadResult read;
        try
        {
            // The whole body (at most TRACK_MAX_BODY_BYTES, enforced by Kestrel) straight from the request pipe.
            var body = await request.BodyReader.ReadAtLeastAsync(int.MaxValue, cancellationToken);
            read = TrackEventReader.Read(body.Buffer, time.GetUtcNow());
            request.BodyReader.AdvanceTo(body.Buffer.End);
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's own limits (body size: 413, a client that stalls: 408) surface here; say so, don't 500.
            var tooLarge = ex.StatusCode == StatusCodes.Status413PayloadTooLarge;
            metrics.EventRejected(tooLarge ? "too_large" : "bad_request");
            return TypedResults.Problem(statusCode: ex.StatusCode, type: tooLarge ? Problems.BodyTooLarge : Problems.BadRequest,
                title: "Request body refused", detail: ex.Message);
        }

        if (read.MalformedReason is { } reason)
        {
            metrics.EventRejected("malformed");
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, type: Problems.MalformedJson,
                title: "Malformed request body", detail: reason);
        }
        if (read.FieldErrors is { } errors)
        {
            metrics.EventRejected("invalid");
            return TypedResults.ValidationProblem(errors, type: Problems.InvalidEvent, title: "The event is not valid");
        }

        try
        {
            var appended = await writer.AppendAsync(read.Event!.ToJsonLine(), cancellationToken, System.Diagnostics.Activity.Current?.Context ?? default);
            metrics.EventAccepted();
            return TypedResults.Ok(new TrackResponse(true, appended.OpenEventCount, FlushedBatch.From(appended.Sealed, s3.Location)));
        }
        catch (IntakeClosedException ex)
        {
            metrics.EventRejected("shutting_down");
            return ServiceUnavailable(Problems.ShuttingDown, ex.Message);
        }
        catch (SpoolFullException ex)
        {
            metrics.EventRejected("spool_full");
            // Backpressure: S3 is behind and the spool is at its bound. Come back after the uploader's next round.
            var retryAfter = upload.Value.PauseAfter(Math.Max(1, s3.Status().ConsecutiveFailures));
            request.HttpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, type: Problems.SpoolFull,
                title: "Spool full", detail: ex.Message);
        }
        catch (SpoolWriteException ex)
        {
            metrics.EventRejected("spool_error");
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, type: Problems.SpoolError,
                title: "Event not stored", detail: ex.Message);
        }
    }

    public static async Task<Results<Ok<FlushResponse>, ProblemHttpResult>> FlushAsync(
        BatchWriter writer, S3Sink s3, IOptions<UploadOptions> options, CancellationToken cancellationToken)
    {
        SealedSegment? sealedBatch;
        try
        {
            sealedBatch = await writer.SealAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IntakeClosedException or SpoolWriteException)
        {
            return ServiceUnavailable(ex is IntakeClosedException ? Problems.ShuttingDown : Problems.SpoolError, ex.Message);
        }

        var timeout = options.Value.FlushTimeout;
        DrainResult drained;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            deadline.CancelAfter(timeout);
            try
            {
                drained = await s3.DrainAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                drained = new DrainResult(false, s3.Pending(),
                    $"S3 did not confirm every batch within {timeout.TotalSeconds:0} s; uploading goes on in the background.");
            }
        }

        if (drained.Succeeded)
        {
            return TypedResults.Ok(new FlushResponse(
                true, sealedBatch?.Events ?? 0, sealedBatch?.Key, s3.Location,
                sealedBatch is null ? "No events were pending; every earlier batch is in S3." : null));
        }

        // Nothing is lost: the batches stay queued under their keys and the uploader keeps trying.
        return TypedResults.Problem(
            statusCode: StatusCodes.Status503ServiceUnavailable,
            type: Problems.FlushNotConfirmed,
            title: "Flush not confirmed by S3",
            detail: drained.Error,
            extensions: new Dictionary<string, object?>
            {
                ["success"] = false,
                ["flushed"] = sealedBatch?.Events ?? 0,
                ["filename"] = sealedBatch?.Key,
                ["bucket"] = s3.Location,
                ["awaitingUpload"] = drained.StillQueued.Select(b => new { filename = b.Key, events = b.Events }).ToArray(),
            });
    }

    public static Ok<StatusResponse> GetStatus(
        BatchWriter writer, SpoolLog spool, S3Sink s3, IEnumerable<Sink> sinks,
        IOptions<S3Options> s3Options, IOptions<BatchingOptions> batching, IOptions<FmeOptions> fme)
    {
        var stats = spool.Stats();
        var record = s3.Status();
        return TypedResults.Ok(new StatusResponse(
            Status: spool.Fault is null ? "running" : "spool-faulted",
            BatchSize: writer.OpenEventCount,
            MaxBatchSize: writer.MaxBatchSize,
            S3Bucket: s3Options.Value.BucketName,
            Region: s3Options.Value.Region,
            InstanceId: batching.Value.InstanceId,
            PendingEvents: stats.OpenEvents + (int)record.BacklogEvents,
            SpooledBytes: stats.Bytes,
            SpooledSegments: stats.Segments,
            BatchesAwaitingUpload: record.BacklogSegments,
            LastUploadAt: record.LastSuccessAt,
            ConsecutiveFailures: record.ConsecutiveFailures,
            LastError: record.LastError,
            SpoolFault: spool.Fault,
            FmeForwarding: fme.Value.OffBecause is { } off ? $"off: {off}" : fme.Value.Forward.ToString().ToLowerInvariant(),
            Sinks: [.. sinks.Select(sink => sink.Status())]));
    }

    /// <summary>The newest objects in the bucket with their event counts, for the page.</summary>
    public static async Task<Results<Ok<ObjectsResponse>, ProblemHttpResult>> ListObjectsAsync(
        IObjectStore store, ILoggerFactory loggers, CancellationToken cancellationToken, int limit = 10)
    {
        if (limit is < 1 or > 100)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, type: Problems.BadLimit,
                title: "Bad limit", detail: "'limit' must be between 1 and 100.");
        }
        try
        {
            return TypedResults.Ok(new ObjectsResponse(store.Location, await store.ListRecentAsync(limit, cancellationToken)));
        }
        catch (Exception ex) when (ex is Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException or HttpRequestException)
        {
            loggers.CreateLogger(typeof(TrackApi)).LogWarning(ex, "Listing {Bucket} failed", store.Location);
            return TypedResults.Problem(statusCode: StatusCodes.Status502BadGateway, type: Problems.S3Unavailable,
                title: "S3 did not answer the listing", detail: S3Faults.Describe(ex));
        }
    }

    private static ProblemHttpResult ServiceUnavailable(string type, string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, type: type, title: "Service unavailable", detail: detail);
}

public sealed record TrackResponse(bool Success, int BatchSize, FlushedBatch? Flushed);

/// <summary>The seed's description of a batch that went (or is going) to S3.</summary>
public sealed record FlushedBatch(int Flushed, string Filename, string Bucket)
{
    public static FlushedBatch? From(SealedSegment? batch, string bucket) =>
        batch is null ? null : new FlushedBatch(batch.Events, batch.Key, bucket);
}

public sealed record ObjectsResponse(string Bucket, IReadOnlyList<StoredObject> Objects);

public sealed record FlushResponse(
    bool Success,
    int Flushed,
    string? Filename,
    string Bucket,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    string? Message);

/// <param name="BatchSize">Events in the open batch (the seed's field).</param>
/// <param name="PendingEvents">Events accepted but not yet confirmed in S3: open batch plus sealed batches awaiting upload.</param>
/// <param name="FmeForwarding">What goes to FME (<c>sdk</c>, <c>all</c>), or why nothing does.</param>
/// <param name="Sinks">Each destination's backlog and health; S3's is also in the seed-era fields above.</param>
/// <param name="SpooledBytes">Disk the spool holds for them.</param>
/// <param name="SpooledSegments">Spool files holding them (the open one included).</param>
public sealed record StatusResponse(
    string Status,
    int BatchSize,
    int MaxBatchSize,
    string S3Bucket,
    string Region,
    string InstanceId,
    int PendingEvents,
    long SpooledBytes,
    int SpooledSegments,
    int BatchesAwaitingUpload,
    DateTimeOffset? LastUploadAt,
    int ConsecutiveFailures,
    string? LastError,
    string? SpoolFault,
    string FmeForwarding,
    IReadOnlyList<SinkStatus> Sinks);
