using System.Net;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.InProcess;

/// <summary>Readiness must not turn every probe (or every anonymous /health) into a call to S3.</summary>
public sealed class HealthCacheTests
{
    [Fact]
    public async Task Many_readiness_probes_within_the_cache_time_ask_S3_once()
    {
        await using var bucket = await S3rverBucket.CreateAsync("health-cache");
        var counting = new CountingHandler();
        await using var api = await ApiHost.StartAsync(bucket, counting, ("S3_HEALTH_CACHE_SECONDS", "60"));

        for (var i = 0; i < 5; i++)
        {
            using var ready = await api.Http.GetAsync("/ready");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
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
