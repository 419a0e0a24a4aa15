using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace TrackMulti.Api.Sinks.S3;

/// <summary>How hard and how long the S3 sink tries. A batch is never given up on; these shape the pacing.</summary>
public sealed class UploadOptions
{
    /// <summary>One PUT attempt is abandoned (and retried under the same key) after this long.</summary>
    [ConfigurationKeyName("UPLOAD_ATTEMPT_TIMEOUT_SECONDS")]
    [Range(1, 600, ErrorMessage = "UPLOAD_ATTEMPT_TIMEOUT_SECONDS must be between {1} and {2}.")]
    public int AttemptTimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// Batches uploaded at once. They are acknowledged in order all the same, so after a crash none is skipped; one that
    /// was uploaded ahead of an older one is uploaded again under its own key, the same object.
    /// </summary>
    [ConfigurationKeyName("UPLOAD_CONCURRENCY")]
    [Range(1, 64, ErrorMessage = "UPLOAD_CONCURRENCY must be between {1} and {2}.")]
    public int Concurrency { get; set; } = 4;

    /// <summary>Quick retries (exponential backoff with jitter) inside one upload round.</summary>
    [ConfigurationKeyName("UPLOAD_RETRIES")]
    [Range(0, 20, ErrorMessage = "UPLOAD_RETRIES must be between {1} and {2}.")]
    public int Retries { get; set; } = 3;

    [ConfigurationKeyName("UPLOAD_RETRY_BASE_DELAY_MS")]
    [Range(1, 60_000, ErrorMessage = "UPLOAD_RETRY_BASE_DELAY_MS must be between {1} and {2}.")]
    public int RetryBaseDelayMilliseconds { get; set; } = 200;

    /// <summary>After a failed round the S3 sink pauses, doubling up to this, before it tries the same batch again.</summary>
    [ConfigurationKeyName("UPLOAD_PAUSE_MAX_SECONDS")]
    [Range(1, 3600, ErrorMessage = "UPLOAD_PAUSE_MAX_SECONDS must be between {1} and {2}.")]
    public int PauseMaxSeconds { get; set; } = 60;

    /// <summary><c>POST /api/flush</c> answers by this time even if S3 has not confirmed every batch yet.</summary>
    [ConfigurationKeyName("FLUSH_TIMEOUT_SECONDS")]
    [Range(1, 600, ErrorMessage = "FLUSH_TIMEOUT_SECONDS must be between {1} and {2}.")]
    public int FlushTimeoutSeconds { get; set; } = 30;

    public TimeSpan AttemptTimeout => TimeSpan.FromSeconds(AttemptTimeoutSeconds);
    public TimeSpan RetryBaseDelay => TimeSpan.FromMilliseconds(RetryBaseDelayMilliseconds);
    public TimeSpan FlushTimeout => TimeSpan.FromSeconds(FlushTimeoutSeconds);

    /// <summary>The pause before round <paramref name="failedRounds"/>+1: doubles from one second, capped.</summary>
    public TimeSpan PauseAfter(int failedRounds) => DeliveryPipeline.PauseAfter(failedRounds, PauseMaxSeconds);
}
