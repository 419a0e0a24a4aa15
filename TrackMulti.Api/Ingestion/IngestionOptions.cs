using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Ingestion;

/// <summary>Who may send what, and how much. Keys are secrets: they are compared, never logged.</summary>
public sealed class IngestionOptions
{
    /// <summary>When set, <c>POST /api/track</c> requires it (<c>Authorization: Bearer …</c> or <c>X-Api-Key</c>).</summary>
    [ConfigurationKeyName("INGEST_API_KEY")]
    public string? IngestApiKey { get; set; }

    /// <summary>When set, <c>POST /api/flush</c> and <c>GET /api/objects</c> require it.</summary>
    [ConfigurationKeyName("ADMIN_API_KEY")]
    public string? AdminApiKey { get; set; }

    /// <summary>Largest <c>POST /api/track</c> body (<c>TRACK_MAX_BODY_BYTES</c>, default 64 KiB); larger is 413.</summary>
    [ConfigurationKeyName("TRACK_MAX_BODY_BYTES")]
    [Range(1024, 16 * 1024 * 1024, ErrorMessage = "TRACK_MAX_BODY_BYTES must be between {1} and {2}.")]
    public int MaxTrackBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Most events one <c>POST /api/batch</c> may carry (<c>BATCH_MAX_EVENTS</c>, default 1000); more is 413.</summary>
    [ConfigurationKeyName("BATCH_MAX_EVENTS")]
    [Range(1, 100_000, ErrorMessage = "BATCH_MAX_EVENTS must be between {1} and {2}.")]
    public int MaxBatchEvents { get; set; } = 1000;

    /// <summary>Largest <c>POST /api/batch</c> body (<c>BATCH_MAX_BODY_BYTES</c>, default 1 MiB); larger is 413.</summary>
    [ConfigurationKeyName("BATCH_MAX_BODY_BYTES")]
    [Range(1024, 64 * 1024 * 1024, ErrorMessage = "BATCH_MAX_BODY_BYTES must be between {1} and {2}.")]
    public int MaxBatchBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Events per second each client may send on average (<c>RATE_LIMIT_PER_SECOND</c>); 0 turns the limiter off.</summary>
    [ConfigurationKeyName("RATE_LIMIT_PER_SECOND")]
    [Range(0, 1_000_000, ErrorMessage = "RATE_LIMIT_PER_SECOND must be between {1} and {2}.")]
    public int RateLimitPerSecond { get; set; } = 500;

    /// <summary>How many events a client may send at once before the rate applies (<c>RATE_LIMIT_BURST</c>).</summary>
    [ConfigurationKeyName("RATE_LIMIT_BURST")]
    [Range(1, 1_000_000, ErrorMessage = "RATE_LIMIT_BURST must be between {1} and {2}.")]
    public int RateLimitBurst { get; set; } = 1000;

    /// <summary>
    /// The client-side FME SDK key (<c>HARNESS_FME_API_KEY</c>): an FME SDK may post to <c>/fme/api</c> with it. The
    /// FME sink reads the same setting to post with (<c>FmeOptions</c>).
    /// </summary>
    [ConfigurationKeyName("HARNESS_FME_API_KEY")]
    public string? FmeApiKey { get; set; }

    /// <summary>The server-side FME SDK key (<c>HARNESS_FME_SERVER_KEY</c>, a secret): an FME SDK may post with it too; the FME sink posts with it.</summary>
    [ConfigurationKeyName("HARNESS_FME_SERVER_KEY")]
    public string? FmeServerKey { get; set; }

    /// <summary>Origins allowed to call the Api from a browser directly (comma-separated); none by default.</summary>
    [ConfigurationKeyName("CORS_ALLOWED_ORIGINS")]
    public string? CorsAllowedOrigins { get; set; }

    /// <summary>
    /// The keys an FME SDK may post to <c>/fme/api</c> with: the configured ones, not the offline <c>localhost</c>.
    /// Whatever <c>FME_FORWARD</c> says, what the SDK posts lands in S3.
    /// </summary>
    public IReadOnlyList<string> FmeSdkKeys =>
        [.. new[] { FmeApiKey, FmeServerKey }.OfType<string>().Where(key => key.Length > 0 && key != FmeKeys.Offline)];

    public string[] CorsOrigins =>
        CorsAllowedOrigins?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
}
