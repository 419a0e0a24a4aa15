using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace TrackMulti.Api.Sinks.S3;

/// <summary>Where batches go. Bound from the seed's variable names plus the AWS SDK's standard endpoint variable.</summary>
public sealed class S3Options
{
    public const string DefaultBucket = "trackmulti-events";
    public const string DefaultRegion = "us-east-1";

    [ConfigurationKeyName("S3_BUCKET_NAME")]
    [Required(ErrorMessage = "S3_BUCKET_NAME must be set."), RegularExpression("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", ErrorMessage = "S3_BUCKET_NAME must be a valid S3 bucket name.")]
    public string BucketName { get; set; } = DefaultBucket;

    [ConfigurationKeyName("AWS_REGION")]
    [Required(ErrorMessage = "AWS_REGION must be set.")]
    public string Region { get; set; } = DefaultRegion;

    /// <summary>
    /// A custom S3 endpoint (LocalStack, MinIO, s3rver), read from the AWS SDK's own <c>AWS_ENDPOINT_URL_S3</c>.
    /// Unset means real AWS S3.
    /// </summary>
    [ConfigurationKeyName("AWS_ENDPOINT_URL_S3")]
    [Url(ErrorMessage = "AWS_ENDPOINT_URL_S3 must be an absolute http(s) URL.")]
    public string? ServiceUrl { get; set; }

    /// <summary>The readiness check asks S3 at most this often (<c>S3_HEALTH_CACHE_SECONDS</c>, default 15).</summary>
    [ConfigurationKeyName("S3_HEALTH_CACHE_SECONDS")]
    [Range(0.1, 3600, ErrorMessage = "S3_HEALTH_CACHE_SECONDS must be between {1} and {2}.")]
    public double HealthCacheSeconds { get; set; } = 15;

    public TimeSpan HealthCacheTime => TimeSpan.FromSeconds(HealthCacheSeconds);

    public bool UsesCustomEndpoint => !string.IsNullOrWhiteSpace(ServiceUrl);
}
