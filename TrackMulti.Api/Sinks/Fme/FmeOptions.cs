using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Model;
using TrackMulti.Api.Spool;

namespace TrackMulti.Api.Sinks.Fme;

/// <summary>Which events go to Harness FME's events API, with which key, and how hard the sink tries.</summary>
public sealed class FmeOptions
{
    public const string DefaultEventsUrl = "https://events.split.io/api";

    /// <summary>FME's events API (<c>FME_EVENTS_URL</c>); the sink posts to <c>{url}/events/bulk</c>.</summary>
    [ConfigurationKeyName("FME_EVENTS_URL")]
    [Url(ErrorMessage = "FME_EVENTS_URL must be an absolute http(s) URL.")]
    public string EventsUrl { get; set; } = DefaultEventsUrl;

    /// <summary>A server-side SDK key (<c>HARNESS_FME_SERVER_KEY</c>, a secret); preferred over the client-side key.</summary>
    [ConfigurationKeyName("HARNESS_FME_SERVER_KEY")]
    public string? ServerKey { get; set; }

    /// <summary>
    /// The seed's client-side SDK key (<c>HARNESS_FME_API_KEY</c>, public by design). With the server key, also the
    /// keys an FME SDK may post to <c>/fme/api</c> with (the ingestion options read them for that).
    /// </summary>
    [ConfigurationKeyName("HARNESS_FME_API_KEY")]
    public string? ApiKey { get; set; }

    /// <summary>What is forwarded (<c>FME_FORWARD</c>): <c>sdk</c> (default), <c>all</c> or <c>off</c>.</summary>
    [ConfigurationKeyName("FME_FORWARD")]
    public FmeForward Forward { get; set; } = FmeForward.Sdk;

    /// <summary>
    /// Past this many spool bytes waiting for FME (<c>FME_MAX_BACKLOG_BYTES</c>, default 256 MiB), the oldest are
    /// dropped for FME only; the events stay in S3. Must be below <c>SPOOL_MAX_BYTES</c>, so FME down never stops intake.
    /// </summary>
    [ConfigurationKeyName("FME_MAX_BACKLOG_BYTES")]
    [Range(1024, long.MaxValue, ErrorMessage = "FME_MAX_BACKLOG_BYTES must be between {1} and {2}.")]
    public long MaxBacklogBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>One post attempt is abandoned (and retried) after this long.</summary>
    [ConfigurationKeyName("FME_ATTEMPT_TIMEOUT_SECONDS")]
    [Range(1, 600, ErrorMessage = "FME_ATTEMPT_TIMEOUT_SECONDS must be between {1} and {2}.")]
    public int AttemptTimeoutSeconds { get; set; } = 10;

    /// <summary>Quick retries (exponential backoff with jitter) inside one round.</summary>
    [ConfigurationKeyName("FME_RETRIES")]
    [Range(0, 20, ErrorMessage = "FME_RETRIES must be between {1} and {2}.")]
    public int Retries { get; set; } = 3;

    [ConfigurationKeyName("FME_RETRY_BASE_DELAY_MS")]
    [Range(1, 60_000, ErrorMessage = "FME_RETRY_BASE_DELAY_MS must be between {1} and {2}.")]
    public int RetryBaseDelayMilliseconds { get; set; } = 500;

    /// <summary>After a failed round the sink pauses, doubling up to this, before it tries the same post again.</summary>
    [ConfigurationKeyName("FME_PAUSE_MAX_SECONDS")]
    [Range(1, 3600, ErrorMessage = "FME_PAUSE_MAX_SECONDS must be between {1} and {2}.")]
    public int PauseMaxSeconds { get; set; } = 60;

    public TimeSpan AttemptTimeout => TimeSpan.FromSeconds(AttemptTimeoutSeconds);
    public TimeSpan RetryBaseDelay => TimeSpan.FromMilliseconds(RetryBaseDelayMilliseconds);

    /// <summary>The key the sink sends: the server-side key when set, else the client-side one.</summary>
    public string? Key => ServerKey is { Length: > 0 } server ? server : ApiKey is { Length: > 0 } client ? client : null;

    /// <summary>Why nothing is forwarded, or null when the sink runs.</summary>
    public string? OffBecause => Forward == FmeForward.Off ? "FME_FORWARD is off"
        : Key is null ? "no FME key is set (HARNESS_FME_SERVER_KEY or HARNESS_FME_API_KEY)"
        : Key == FmeKeys.Offline ? "the FME key is 'localhost' (the SDK's offline mode)"
        : null;

    /// <summary>What is forwarded (<c>sdk</c>, <c>all</c>), or why nothing is.</summary>
    public string Forwarding => OffBecause is { } off ? $"off: {off}" : Forward.ToString().ToLowerInvariant();

    /// <summary>The streams the sink takes: what came through the FME SDK's endpoints, and with <c>all</c> tracked events too.</summary>
    public bool Takes(string stream) => Streams.IsFromFmeSdk(stream) || (Forward == FmeForward.All && stream == Streams.Track);

    public TimeSpan PauseAfter(int failedRounds) => DeliveryPipeline.PauseAfter(failedRounds, PauseMaxSeconds);
}

public enum FmeForward
{
    /// <summary>Only events that came through the FME SDK's own endpoints (whose producers count on TrackMulti for FME).</summary>
    Sdk,

    /// <summary>Also <c>POST /api/track</c>: for producers that do not call FME themselves.</summary>
    All,

    Off,
}

/// <summary>The FME backlog must fit in the spool with room to spare, or FME being down would stop intake.</summary>
public sealed class FmeOptionsValidator(IOptions<SpoolOptions> spool) : IValidateOptions<FmeOptions>
{
    public ValidateOptionsResult Validate(string? name, FmeOptions options) =>
        options.OffBecause is null && options.MaxBacklogBytes >= spool.Value.MaxBytes
            ? ValidateOptionsResult.Fail($"FME_MAX_BACKLOG_BYTES ({options.MaxBacklogBytes}) must be below SPOOL_MAX_BYTES ({spool.Value.MaxBytes}).")
            : ValidateOptionsResult.Success;
}
