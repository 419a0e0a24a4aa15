using Amazon.Runtime;
using Amazon.S3;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Sinks;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Tests.Infrastructure;
using TrackMulti.Tests.HostedServices;

namespace TrackMulti.Tests.InProcess;

/// <summary>Readiness must not turn every probe (or every anonymous /health) into a call to S3.</summary>
public sealed class HealthCacheTests
{
    [Fact]
    public async Task Many_readiness_checks_within_the_cache_time_ask_S3_once()
    {
        await using var bucket = await S3rverBucket.StartAsync("health-cache");
        var counting = new CountingHandler();
        await using var host = new BatchingHost(
            new() { ["S3_BUCKET_NAME"] = bucket.Name, ["AWS_ENDPOINT_URL_S3"] = bucket.S3.Url, ["S3_HEALTH_CACHE_SECONDS"] = "60" },
            configure: services => services.AddSingleton<IAmazonS3>(sp =>
            {
                var config = S3Extensions.CreateS3Config(sp.GetRequiredService<IOptions<S3Options>>().Value);
                config.HttpClientFactory = new HandlerHttpClientFactory(counting);
                return new AmazonS3Client(new BasicAWSCredentials(S3rverProcess.AccessKey, S3rverProcess.AccessKey), config);
            }));
        await host.StartAsync();
        var health = host.Services.GetRequiredService<HealthCheckService>();

        for (var i = 0; i < 5; i++)
        {
            var report = await health.CheckHealthAsync(check => check.Name == BucketReadinessCheck.Name);
            Assert.Equal(HealthStatus.Healthy, report.Status);
        }

        Assert.Equal(1, counting.Heads);
    }

    private sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _heads;

        public int Heads => Volatile.Read(ref _heads);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method == HttpMethod.Head)
            {
                Interlocked.Increment(ref _heads);
            }
            return base.SendAsync(request, cancellationToken);
        }
    }
}
