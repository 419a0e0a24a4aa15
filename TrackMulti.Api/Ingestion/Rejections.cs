using Microsoft.AspNetCore.Http.HttpResults;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// One kind of refusal: its HTTP status, its RFC 7807 problem type (clients branch on <c>type</c>, not on prose), the
/// reason it is counted under in <c>trackmulti.events.rejected</c> (null when it refuses no event), and a title.
/// The OpenAPI document describes each endpoint's refusals from these (<see cref="ApiDocument"/>).
/// </summary>
public sealed record Rejection(int Status, string Type, string? Reason, string Title)
{
    /// <summary>Its problem details carry <c>errors</c>, by field (a validation problem).</summary>
    public bool ErrorsByField { get; init; }

    /// <summary>Its answer carries <c>Retry-After</c>: the seconds a client should wait before it sends again.</summary>
    public bool SaysWhenToRetry { get; init; }

    public ProblemHttpResult Problem(string detail, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(statusCode: Status, type: Type, title: Title, detail: detail, extensions: extensions);
}

/// <summary>Every refusal the Api answers with, in one table.</summary>
public static class Rejections
{
    private const string Prefix = "urn:trackmulti:problem:";

    public static readonly Rejection MalformedJson = new(400, Prefix + "malformed-json", "malformed", "Malformed request body");
    /// <summary>A well-formed batch or FME SDK post that holds no event, impression or count: nothing to store.</summary>
    public static readonly Rejection EmptyBatch = new(400, Prefix + "empty-batch", "empty_batch", "The request holds nothing to store");
    public static readonly Rejection InvalidEvent = new(400, Prefix + "invalid-event", "invalid", "The event is not valid") { ErrorsByField = true };
    public static readonly Rejection BadRequest = new(400, Prefix + "bad-request", "bad_request", "Request body refused");
    public static readonly Rejection MissingApiKey = new(401, Prefix + "missing-api-key", "missing_api_key", "API key required");
    public static readonly Rejection WrongApiKey = new(403, Prefix + "wrong-api-key", "wrong_api_key", "API key not accepted");
    public static readonly Rejection MissingSdkKey = new(401, Prefix + "missing-sdk-key", "missing_sdk_key", "FME SDK key required");
    public static readonly Rejection WrongSdkKey = new(403, Prefix + "wrong-sdk-key", "wrong_sdk_key", "FME SDK key not accepted");
    public static readonly Rejection FmeSdkOff = new(403, Prefix + "fme-sdk-off", "fme_sdk_off", "FME SDK posts not taken");
    public static readonly Rejection BodyTooLarge = new(413, Prefix + "body-too-large", "too_large", "Request body refused");
    public static readonly Rejection TooManyEvents = new(413, Prefix + "too-many-events", "too_many_events", "Too many events in one request");
    public static readonly Rejection UnsupportedMediaType = new(415, Prefix + "unsupported-media-type", "unsupported_media_type", "Unsupported content type");
    public static readonly Rejection RateLimited = new(429, Prefix + "rate-limited", "rate_limited", "Too many requests") { SaysWhenToRetry = true };
    public static readonly Rejection SpoolFull = new(503, Prefix + "spool-full", "spool_full", "Spool full") { SaysWhenToRetry = true };
    public static readonly Rejection SpoolError = new(503, Prefix + "spool-error", "spool_error", "Event not stored");
    public static readonly Rejection ShuttingDown = new(503, Prefix + "shutting-down", "shutting_down", "Service unavailable");

    // Refusals of other requests than events.
    public static readonly Rejection FlushNotConfirmed = new(503, Prefix + "flush-not-confirmed", null, "Flush not confirmed by S3");
    public static readonly Rejection S3Unavailable = new(502, Prefix + "s3-unavailable", null, "S3 did not answer the listing");
    public static readonly Rejection BadLimit = new(400, Prefix + "bad-limit", null, "Bad limit");
    public static readonly Rejection InvalidReplay = new(400, Prefix + "invalid-replay", null, "The replay is not valid") { ErrorsByField = true };
    public static readonly Rejection ReplaySinkOff = new(409, Prefix + "replay-sink-off", null, "The sink is off");
    public static readonly Rejection EmptyReplayWindow = new(422, Prefix + "empty-replay-window", null, "Nothing to replay in the window");
    public static readonly Rejection UnknownReplay = new(404, Prefix + "unknown-replay", null, "No such replay");
}
