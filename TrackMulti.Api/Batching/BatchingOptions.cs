using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Batching;

/// <summary>When a batch is sealed, and how its key names this instance. Bound from the seed's variable names.</summary>
public sealed class BatchingOptions
{
    /// <summary>Seal the open batch when it holds this many events (the seed's <c>BATCH_SIZE</c>).</summary>
    [ConfigurationKeyName("BATCH_SIZE")]
    [Range(1, 100_000, ErrorMessage = "BATCH_SIZE must be between {1} and {2}.")]
    public int BatchSize { get; set; } = 100;

    /// <summary>Seal before the batch's object would grow past this many bytes (<c>BATCH_MAX_BYTES</c>, default 8 MiB).</summary>
    [ConfigurationKeyName("BATCH_MAX_BYTES")]
    [Range(1024, 5L * 1024 * 1024 * 1024, ErrorMessage = "BATCH_MAX_BYTES must be between {1} and {2}.")]
    public long MaxBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Seal a batch this long after its first event (<c>BATCH_MAX_AGE_SECONDS</c>, default 60), so no accepted event
    /// waits longer than this for its upload to begin, however quiet the traffic.
    /// </summary>
    [ConfigurationKeyName("BATCH_MAX_AGE_SECONDS")]
    [Range(0.01, 86_400, ErrorMessage = "BATCH_MAX_AGE_SECONDS must be between {1} and {2}.")]
    public double MaxAgeSeconds { get; set; } = 60;

    public TimeSpan MaxAge => TimeSpan.FromSeconds(MaxAgeSeconds);

}
