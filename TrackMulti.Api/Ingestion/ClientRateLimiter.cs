using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// A token bucket per client that counts events, not requests (<c>RATE_LIMIT_PER_SECOND</c>, <c>RATE_LIMIT_BURST</c>).
/// A client is the browser behind the Web, when the Web (holding the ingest key, a trusted forwarder) names it in
/// <see cref="ClientHeader"/>; another holder of the ingest key; or else the caller's address. A made-up key or a
/// header without the ingest key buys no fresh bucket.
/// </summary>
public sealed class ClientRateLimiter : IDisposable
{
    /// <summary>The browser's address, set by the Web (which drops any value a browser sent) and trusted only with the ingest key.</summary>
    public const string ClientHeader = "X-TrackMulti-Client";

    private readonly IngestionOptions _options;
    private readonly PartitionedRateLimiter<HttpContext>? _limiter;

    public ClientRateLimiter(IOptions<IngestionOptions> options)
    {
        _options = options.Value;
        if (_options.RateLimitPerSecond == 0)
        {
            return; // off
        }
        _limiter = PartitionedRateLimiter.Create<HttpContext, string>(context => RateLimitPartition.GetTokenBucketLimiter(
            ClientOf(context), _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = _options.RateLimitBurst,
                TokensPerPeriod = _options.RateLimitPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
    }

    /// <summary>Most events one request can be admitted with (the bucket's size); null when the limiter is off.</summary>
    public int? Burst => _limiter is null ? null : _options.RateLimitBurst;

    /// <summary>Takes <paramref name="events"/> from the client's bucket; null when admitted, else how long to wait.</summary>
    public TimeSpan? TryAdmit(HttpContext context, int events)
    {
        if (_limiter is null)
        {
            return null;
        }
        using var lease = _limiter.AttemptAcquire(context, events);
        return lease.IsAcquired ? null
            : lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait
            : TimeSpan.FromSeconds(1);
    }

    public string ClientOf(HttpContext context)
    {
        if (_options.IngestApiKey is { Length: > 0 } expected && ApiKeys.Carries(context.Request, expected))
        {
            return context.Request.Headers[ClientHeader].ToString() is { Length: > 0 } browser ? "browser:" + browser : "ingest-key";
        }
        return "ip:" + (context.Connection.RemoteIpAddress ?? IPAddress.None);
    }

    public void Dispose() => _limiter?.Dispose();
}
