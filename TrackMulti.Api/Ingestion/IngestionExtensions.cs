using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Ingestion;

public static class IngestionExtensions
{
    public const string PerClientPolicy = "per-client";
    public const string CorsPolicy = "allow-listed-origins";

    /// <summary>Options, the per-client rate limiter, CORS (closed unless origins are listed) and Kestrel's limits.</summary>
    public static WebApplicationBuilder AddIngestion(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<IngestionOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        var options = builder.Configuration.Get<IngestionOptions>() ?? new IngestionOptions();

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 64;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));
            kestrel.Limits.MaxRequestBodySize = 1024 * 1024; // endpoints ask for less (track: TRACK_MAX_BODY_BYTES)
        });

        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(PerClientPolicy, context =>
            {
                var settings = context.RequestServices.GetRequiredService<IOptions<IngestionOptions>>().Value;
                if (settings.RateLimitPerSecond == 0)
                {
                    return RateLimitPartition.GetNoLimiter("off");
                }
                // A client is the ingest key when it presents the right one (every holder of it shares a bucket), or else
                // its address: a made-up key must not buy a fresh bucket.
                var client = settings.IngestApiKey is { Length: > 0 } expected
                    && ApiKeys.Presented(context.Request) is { } key && ApiKeys.Matches(key, expected)
                    ? "ingest-key"
                    : "ip:" + (context.Connection.RemoteIpAddress ?? IPAddress.None);
                return RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = settings.RateLimitBurst,
                    TokensPerPeriod = settings.RateLimitPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var http = rejected.HttpContext;
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                http.RequestServices.GetRequiredService<TrackMetrics>().EventRejected("rate_limited");
                await TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, type: Problems.RateLimited,
                    title: "Too many requests", detail: "This client sends faster than the Api accepts; retry after the time in Retry-After.")
                    .ExecuteAsync(http);
            };
        });

        builder.Services.AddCors(cors =>
        {
            if (options.CorsOrigins is { Length: > 0 } origins)
            {
                cors.AddPolicy(CorsPolicy, policy => policy.WithOrigins(origins).WithMethods("GET", "POST")
                    .WithHeaders("Content-Type", "Authorization", ApiKeys.HeaderName));
            }
        });
        return builder;
    }
}
