namespace TrackMulti.Api.Ingestion;

/// <summary>
/// The RFC 7807 problem types the Api answers with, one per kind of refusal, so clients can branch on <c>type</c>
/// rather than on prose.
/// </summary>
public static class Problems
{
    private const string Prefix = "urn:trackmulti:problem:";

    public const string MalformedJson = Prefix + "malformed-json";
    public const string InvalidEvent = Prefix + "invalid-event";
    public const string BodyTooLarge = Prefix + "body-too-large";
    public const string BadRequest = Prefix + "bad-request";
    public const string UnsupportedMediaType = Prefix + "unsupported-media-type";
    public const string MissingApiKey = Prefix + "missing-api-key";
    public const string WrongApiKey = Prefix + "wrong-api-key";
    public const string RateLimited = Prefix + "rate-limited";
    public const string SpoolFull = Prefix + "spool-full";
    public const string SpoolError = Prefix + "spool-error";
    public const string ShuttingDown = Prefix + "shutting-down";
    public const string FlushNotConfirmed = Prefix + "flush-not-confirmed";
    public const string S3Unavailable = Prefix + "s3-unavailable";
    public const string BadLimit = Prefix + "bad-limit";
}
