using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace TrackMulti.Api.Sinks.S3;

/// <summary>
/// Readiness: the bucket answers (HeadBucket, needs s3:ListBucket), probed at most once per
/// <c>S3_HEALTH_CACHE_SECONDS</c>. Liveness does not include it: an S3 outage is what the spool is for, and restarting
/// the Api would not fix S3.
/// </summary>
public sealed class BucketReadinessCheck : IHealthCheck
{
    public const string Name = "s3-bucket";

    private readonly CachedHealthProbe _probe;

    public BucketReadinessCheck(IAmazonS3 s3, IOptions<S3Options> options, TimeProvider time)
    {
        var bucket = options.Value.BucketName;
        _probe = new CachedHealthProbe(async cancellationToken =>
        {
            try
            {
                await s3.HeadBucketAsync(new HeadBucketRequest { BucketName = bucket }, cancellationToken);
                return HealthCheckResult.Healthy($"Bucket '{bucket}' answers.");
            }
            catch (Exception ex)
            {
                return HealthCheckResult.Unhealthy($"Bucket '{bucket}' does not answer: {S3Faults.Describe(ex)}");
            }
        }, options.Value.HealthCacheTime, time);
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        _probe.GetAsync();
}
