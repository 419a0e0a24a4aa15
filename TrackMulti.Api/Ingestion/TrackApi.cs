using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using TrackMulti.Api.Model;
using TrackMulti.Api.Pipeline;

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

        // Anything larger than an endpoint's limit is refused by Kestrel before it is read (413).
        api.MapPost("/track", TrackAsync).WithMetadata(new RequestSizeLimitAttribute(options.MaxTrackBodyBytes)).RequireIngestKey(options)
            .Reads<TrackEventRequest, RouteHandlerBuilder>("application/json").Refuses(EventIntake.TrackRefusals)
            .WithTags("Events").WithSummary("Store one event; the answer says it is on disk.");
        api.MapPost("/batch", BatchAsync).WithMetadata(new RequestSizeLimitAttribute(options.MaxBatchBodyBytes)).RequireIngestKey(options)
            .Reads<IReadOnlyList<TrackEventRequest>, RouteHandlerBuilder>(["application/json", .. EventIntake.NdjsonTypes]).Refuses(EventIntake.BatchRefusals)
            .WithTags("Events").WithSummary("Store many events together, or none: a JSON array or NDJSON.");
        api.MapPost("/flush", FlushAsync).RequireAdminKey(options)
            .Refuses(Rejections.ShuttingDown, Rejections.SpoolError, Rejections.FlushNotConfirmed)
            .WithTags("Operations").WithSummary("Seal every open batch and wait for S3 to confirm them.");
        api.MapGet("/status", GetStatus)
            .WithTags("Operations").WithSummary("The open batch, the spool and each sink's backlog and health.");
        api.MapGet("/objects", ListObjectsAsync).RequireAdminKey(options)
            .Refuses(Rejections.BadLimit, Rejections.S3Unavailable).AddOpenApiOperationTransformer(ObjectListLimit.DescribeAsync)
            .WithTags("Operations").WithSummary("The newest objects in the bucket, with their event counts.");
        // The Athena tables for this bucket and layout, generated from the rows the Api writes.
        api.MapGet("/athena/ddl", (IRecordCatalog catalog) => TypedResults.Text(catalog.AthenaDdl(), "text/plain; charset=utf-8"))
            .Produces<string>(StatusCodes.Status200OK, "text/plain")
            .WithTags("Operations").WithSummary("CREATE TABLE statements for Athena over this bucket and layout.");
        return api;
    }

    public static async Task<Results<Ok<TrackResponse>, ProblemHttpResult, ValidationProblem>> TrackAsync([AsParameters] IntakeServices services) =>
        Answer(await services.Intake.TrackAsync(services.Http), services,
            static (stored, bucket) => new TrackResponse(true, stored.Stored!.OpenEventCount, FlushedBatch.From(stored.Stored.Sealed, bucket)));

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult, ValidationProblem>> BatchAsync([AsParameters] IntakeServices services) =>
        BatchAnswer(await services.Intake.BatchAsync(services.Http), services);

    /// <summary>The answer to a request that stores many events at once (a batch, an FME SDK post).</summary>
    internal static Results<Ok<BatchResponse>, ProblemHttpResult, ValidationProblem> BatchAnswer(IntakeResult result, IntakeServices services) =>
        Answer(result, services, static (stored, bucket) => new BatchResponse(true, stored.Events, stored.Stored!.OpenEventCount,
            [.. stored.Stored.Seals.Select(batch => FlushedBatch.From(batch, bucket)!)]));

    /// <summary>What was stored, in the endpoint's shape (given the bucket); or the refusal as problem details (by field, when it has errors).</summary>
    private static Results<Ok<T>, ProblemHttpResult, ValidationProblem> Answer<T>(
        IntakeResult result, IntakeServices services, Func<IntakeResult, string, T> stored) =>
        result.Refusal switch
        {
            null => TypedResults.Ok(stored(result, services.Record.Location)),
            { Errors: not null } refusal => refusal.Validation(services.Http.Response),
            var refusal => refusal.Problem(services.Http.Response),
        };

    public static async Task<Results<Ok<FlushResponse>, ProblemHttpResult>> FlushAsync(
        PipelineFlush flush, IRecord record, CancellationToken cancellationToken)
    {
        var outcome = await flush.RunAsync(cancellationToken);
        var events = outcome.Sealed.Sum(batch => batch.Events);
        var first = outcome.Sealed.FirstOrDefault()?.Key;
        var all = outcome.Sealed.Select(batch => FlushedBatch.From(batch, record.Location)!).ToArray();
        return outcome.Failure switch
        {
            FlushFailure.None => TypedResults.Ok(new FlushResponse(true, events, first, record.Location, all,
                outcome.Sealed.Count == 0 ? "No events were pending; every earlier batch is in S3." : null)),
            FlushFailure.ShuttingDown => Rejections.ShuttingDown.Problem(outcome.Detail!),
            FlushFailure.SpoolError => Rejections.SpoolError.Problem(outcome.Detail!),
            // Nothing is lost: the batches stay in the spool under their keys and the S3 sink keeps trying.
            _ => Rejections.FlushNotConfirmed.Problem(outcome.Detail!, new Dictionary<string, object?>
            {
                ["success"] = false,
                ["flushed"] = events,
                ["filename"] = first,
                ["batches"] = all,
                ["bucket"] = record.Location,
                ["awaitingUpload"] = outcome.Confirmation!.StillQueued.Select(b => new { filename = b.Key, events = b.Events }).ToArray(),
            }),
        };
    }

    public static Ok<StatusResponse> GetStatus([AsParameters] StatusServices services)
    {
        var stats = services.Spool.Stats();
        var record = services.Record.Status();
        var track = services.Pipeline.OpenBatch(Streams.Track);
        return TypedResults.Ok(new StatusResponse(
            Status: services.Spool.Fault is null ? "running" : "spool-faulted",
            BatchSize: track.Events,
            MaxBatchSize: track.MaxEvents,
            S3Bucket: services.Destinations.Bucket,
            Region: services.Destinations.Region,
            InstanceId: services.Spool.InstanceId,
            PendingEvents: stats.OpenEvents + (int)record.BacklogEvents,
            SpooledBytes: stats.Bytes,
            SpooledSegments: stats.Segments,
            BatchesAwaitingUpload: record.BacklogSegments,
            LastUploadAt: record.LastSuccessAt,
            ConsecutiveFailures: record.ConsecutiveFailures,
            LastError: record.LastError,
            SpoolFault: services.Spool.Fault,
            FmeForwarding: services.Destinations.FmeForwarding,
            Sinks: [.. services.Sinks.Select(sink => sink.Status())],
            Adopted: services.Spool.Adopted()));
    }

    /// <summary>The newest objects in the bucket with their event counts, for the page.</summary>
    public static async Task<Results<Ok<ObjectsResponse>, ProblemHttpResult>> ListObjectsAsync(
        IRecordCatalog catalog, CancellationToken cancellationToken, string? limit = null)
    {
        if (!ObjectListLimit.TryRead(limit, out var count))
        {
            return Rejections.BadLimit.Problem(
                $"'{ObjectListLimit.Name}' must be a whole number from {ObjectListLimit.Minimum} to {ObjectListLimit.Maximum}.");
        }
        var listing = await catalog.ListRecentAsync(count, cancellationToken);
        return listing.Objects is { } objects
            ? TypedResults.Ok(new ObjectsResponse(catalog.Location, objects))
            : Rejections.S3Unavailable.Problem(listing.Unavailable!);
    }
}

/// <summary>What the event endpoints' handlers take: the request, the intake behind it and the record it lands in.</summary>
public readonly record struct IntakeServices(HttpContext Http, EventIntake Intake, IRecord Record);

/// <summary>What <c>GET /api/status</c> reads: the open batch, the spool, the record and every sink, and their settings.</summary>
public readonly record struct StatusServices(
    IEventPipeline Pipeline, ILogStatus Spool, IRecord Record, IEnumerable<IDeliveryStatus> Sinks, DestinationSettings Destinations);

/// <summary>
/// <c>GET /api/objects</c>'s <c>limit</c>, read here rather than bound as an <c>int</c>: a value the framework cannot
/// bind ("abc", "1.5", "") would be its bare 400, or a 500 in Development, not this Api's <c>bad-limit</c>.
/// </summary>
public static class ObjectListLimit
{
    public const string Name = "limit";
    public const int Default = 10;
    public const int Minimum = 1;
    public const int Maximum = 100;

    /// <summary>Digits only ("+5", " 5", "1e3" are no limit), within the range; absent means <see cref="Default"/>.</summary>
    public static bool TryRead(string? sent, out int limit)
    {
        if (sent is null)
        {
            limit = Default;
            return true;
        }
        return int.TryParse(sent, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit)
            && limit is >= Minimum and <= Maximum;
    }

    /// <summary>The document says what <see cref="TryRead"/> takes: a whole number in the range, not the string it is bound as.</summary>
    public static Task DescribeAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.Parameters?.OfType<OpenApiParameter>().FirstOrDefault(p => p.Name == Name) is { } parameter)
        {
            parameter.Description = "How many of the newest objects to list.";
            parameter.Schema = new OpenApiSchema
            {
                Type = JsonSchemaType.Integer,
                Format = "int32",
                Minimum = Minimum.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Maximum = Maximum.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Default = Default,
            };
        }
        return Task.CompletedTask;
    }
}

public sealed record TrackResponse(bool Success, int BatchSize, FlushedBatch? Flushed);

/// <param name="Accepted">Events stored, all of the request's.</param>
/// <param name="BatchSize">Events in the open batch after this request.</param>
/// <param name="Flushed">Every batch this request sealed, in the seed's shape.</param>
public sealed record BatchResponse(bool Success, int Accepted, int BatchSize, IReadOnlyList<FlushedBatch> Flushed);

/// <summary>The seed's description of a batch that went (or is going) to S3.</summary>
public sealed record FlushedBatch(int Flushed, string Filename, string Bucket)
{
    public static FlushedBatch? From(SealedBatch? batch, string bucket) =>
        batch is null ? null : new FlushedBatch(batch.Events, batch.Key, bucket);
}

public sealed record ObjectsResponse(string Bucket, IReadOnlyList<StoredObject> Objects);

/// <param name="Flushed">Events in the batches this flush sealed, all streams together.</param>
/// <param name="Filename">The first of them (the events' batch when there was one), as in the seed.</param>
/// <param name="Batches">Every batch this flush sealed: events, impressions, impression counts.</param>
public sealed record FlushResponse(
    bool Success,
    int Flushed,
    string? Filename,
    string Bucket,
    IReadOnlyList<FlushedBatch> Batches,
    // Only when nothing was pending; a default so the document does not call it required.
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    string? Message = null);

/// <param name="BatchSize">Events in the open batch (the seed's field).</param>
/// <param name="PendingEvents">Events accepted but not yet confirmed in S3: open batch plus sealed batches awaiting upload.</param>
/// <param name="FmeForwarding">What goes to FME (<c>sdk</c>, <c>all</c>), or why nothing does.</param>
/// <param name="Sinks">Each destination's backlog and health; S3's is also in the seed-era fields above.</param>
/// <param name="InstanceId">The replica that answered.</param>
/// <param name="Adopted">Spool folders of other replicas (or earlier runs) this one took over lately.</param>
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
    IReadOnlyList<SinkStatus> Sinks,
    IReadOnlyList<Adoption> Adopted);
