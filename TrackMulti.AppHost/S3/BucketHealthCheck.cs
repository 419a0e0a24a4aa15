using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Util;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TrackMulti.AppHost.S3;

/// <summary>
/// Healthy once the bucket exists on the emulator. Emulators start empty, so the check creates the bucket the first
/// time it finds none; because the Api waits for this resource to be healthy, the bucket exists before the Api
/// takes its first event.
/// </summary>
public sealed class BucketHealthCheck(Func<string> endpointUrl, string bucket, string region, AWSCredentials credentials) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var s3 = new AmazonS3Client(credentials, new AmazonS3Config
            {
                ServiceURL = endpointUrl(),
                AuthenticationRegion = region,
                ForcePathStyle = true,
                MaxErrorRetry = 0,
            });

            if (!await AmazonS3Util.DoesS3BucketExistV2Async(s3, bucket))
            {
                await s3.PutBucketAsync(bucket, cancellationToken);
            }
            return HealthCheckResult.Healthy($"Bucket '{bucket}' exists.");
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy($"Bucket '{bucket}' is not available yet.", ex);
        }
    }
}
