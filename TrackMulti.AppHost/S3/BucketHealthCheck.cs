using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
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

            try
            {
                await s3.HeadBucketAsync(new HeadBucketRequest { BucketName = bucket }, cancellationToken);
            }
            catch (AmazonS3Exception missing) when (missing.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                // Outside us-east-1, S3 (and LocalStack) want the region as the bucket's location constraint.
                await s3.PutBucketAsync(new PutBucketRequest { BucketName = bucket, BucketRegionName = region }, cancellationToken);
            }
            return HealthCheckResult.Healthy($"Bucket '{bucket}' exists.");
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy($"Bucket '{bucket}' is not available yet.", ex);
        }
    }
}
