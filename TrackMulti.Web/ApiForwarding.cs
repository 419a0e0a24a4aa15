using System.Globalization;
using System.Threading.RateLimiting;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;

namespace TrackMulti.Web;

/// <summary>
/// The browser talks only to this origin. The Api calls the page makes (and <c>/api/batch</c>), and the FME SDK's
/// posts under <c>/fme/api</c>, are forwarded to the Api, found by service discovery (<c>http://api</c>); nothing else
/// under <c>/api</c> is. The Api's keys are added here, on the server
/// (<c>INGEST_API_KEY</c> for track and the SDK's posts, <c>ADMIN_API_KEY</c> for flush and the object list), after
/// dropping whatever Api key a browser sent. Each browser (address) has its own rate limit, and a flush must carry the page's header, which a
/// cross-site form cannot send.
/// </summary>
public static class ApiForwarding
{
    /// <summary>The Api's address as service discovery resolves it (the AppHost's <c>WithReference(api)</c>).</summary>
    public const string ApiAddress = "http://api";

    /// <summary>The header the Api reads its keys from (it also takes <c>Authorization: Bearer</c>).</summary>
    public const string ApiKeyHeader = "X-Api-Key";

    /// <summary>The browser's address, for the Api's per-client limit (any value a browser sent is dropped).</summary>
    public const string ClientHeader = "X-TrackMulti-Client";

    /// <summary>Sent by the page's scripts; required on flush so another site cannot trigger one from a form.</summary>
    public const string PageHeader = "X-TrackMulti-Page";

    /// <summary>
    /// The routes that carry events: once a browser's request has arrived, it is forwarded to the end even if the
    /// browser leaves meanwhile (a closing page's last beacons), bounded by the forwarder's own activity timeout.
    /// </summary>
    private static readonly HashSet<string> CarryEvents = ["track", "batch", "fme"];

    public const string BrowserPolicy = "per-browser";
    public const string FlushPolicy = "per-browser-flush";

    public static IHostApplicationBuilder AddApiForwarding(this IHostApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var apiAddress = configuration["API_URL"] is { Length: > 0 } configured ? configured : ApiAddress;
        var keys = new Dictionary<string, string?>
        {
            ["track"] = configuration["INGEST_API_KEY"],
            ["batch"] = configuration["INGEST_API_KEY"],
            ["flush"] = configuration["ADMIN_API_KEY"],
            ["objects"] = configuration["ADMIN_API_KEY"],
            ["status"] = null,
            ["fme"] = configuration["INGEST_API_KEY"],
        };
        // The FME SDK's posts keep their Authorization (the SDK key, which the Api checks); beacons carry it in the body.
        var keepsAuthorization = new HashSet<string> { "fme" };

        builder.Services.AddReverseProxy()
            .LoadFromMemory(
                [
                    Route("track", "/api/track", "POST", BrowserPolicy),
                    Route("batch", "/api/batch", "POST", BrowserPolicy),
                    Route("fme", "/fme/api/{**rest}", "POST", BrowserPolicy),
                    Route("status", "/api/status", "GET", null),
                    Route("objects", "/api/objects", "GET", BrowserPolicy),
                    Route("flush", "/api/flush", "POST", FlushPolicy) with
                    {
                        Match = new RouteMatch
                        {
                            Path = "/api/flush",
                            Methods = ["POST"],
                            Headers = [new RouteHeader { Name = PageHeader, Values = ["1"], Mode = HeaderMatchMode.ExactHeader }],
                        },
                    },
                ],
                [new ClusterConfig
                {
                    ClusterId = "api",
                    Destinations = new Dictionary<string, DestinationConfig> { ["api"] = new() { Address = apiAddress } },
                }])
            .AddServiceDiscoveryDestinationResolver()
            // Api replicas behind one address (a local proxy that balances connections, not requests): connections
            // that live a few seconds only spread the calls over them.
            .ConfigureHttpClient((_, handler) => handler.PooledConnectionLifetime = TimeSpan.FromSeconds(5))
            .AddTransforms(transforms =>
            {
                var key = keys.GetValueOrDefault(transforms.Route.RouteId);
                var keepAuthorization = keepsAuthorization.Contains(transforms.Route.RouteId);
                transforms.AddRequestTransform(context =>
                {
                    var headers = context.ProxyRequest.Headers;
                    if (!keepAuthorization)
                    {
                        headers.Remove("Authorization");
                    }
                    headers.Remove(ApiKeyHeader);
                    headers.Remove(ClientHeader);
                    if (!string.IsNullOrEmpty(key))
                    {
                        headers.TryAddWithoutValidation(ApiKeyHeader, key);
                        // The Api limits each browser on its own: it trusts this (with the key) as the browser's address.
                        headers.TryAddWithoutValidation(ClientHeader, context.HttpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown");
                    }
                    return ValueTask.CompletedTask;
                });
            });

        var perSecond = int.TryParse(configuration["WEB_RATE_LIMIT_PER_SECOND"], CultureInfo.InvariantCulture, out var rate) ? rate : 20;
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(BrowserPolicy, context => PerAddress(context, perSecond, burst: perSecond * 2));
            limiter.AddPolicy(FlushPolicy, context => PerAddress(context, perSecond: 1, burst: 3));
            limiter.OnRejected = async (rejected, _) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
                rejected.HttpContext.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, type: "urn:trackmulti:problem:rate-limited",
                    title: "Too many requests", detail: "This browser sends faster than the page allows; retry after the time in Retry-After.")
                    .ExecuteAsync(rejected.HttpContext);
            };
        });
        return builder;
    }

    public static IEndpointRouteBuilder MapApiForwarding(this IEndpointRouteBuilder app)
    {
        app.MapReverseProxy(proxy =>
        {
            proxy.Use((context, next) =>
            {
                if (CarryEvents.Contains(context.GetReverseProxyFeature().Route.Config.RouteId))
                {
                    // The forwarder gives up when this token fires; the browser's connection no longer decides.
                    context.RequestAborted = CancellationToken.None;
                }
                return next();
            });
            // What the forwarder does when no pipeline is given.
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
        });
        // A flush without the page's header (the seed's `curl -X POST …/api/flush`, or another site's form) matches no
        // route above; it is told what is missing instead of getting a bare 404.
        app.MapPost("/api/flush", () => TypedResults.Problem(
                statusCode: StatusCodes.Status400BadRequest, type: "urn:trackmulti:problem:missing-page-header",
                title: "Flush needs the page's header",
                detail: $"Send '{PageHeader}: 1' with the flush, as the page's scripts do (curl -X POST -H '{PageHeader}: 1' …/api/flush)."))
            .Add(endpoint => ((RouteEndpointBuilder)endpoint).Order = 1); // after the forwarding route, which has the header
        return app;
    }

    private static RouteConfig Route(string id, string path, string method, string? rateLimiterPolicy) => new()
    {
        RouteId = id,
        ClusterId = "api",
        Match = new RouteMatch { Path = path, Methods = [method] },
        RateLimiterPolicy = rateLimiterPolicy,
    };

    private static RateLimitPartition<string> PerAddress(HttpContext context, int perSecond, int burst) =>
        perSecond <= 0
            ? RateLimitPartition.GetNoLimiter("off")
            : RateLimitPartition.GetTokenBucketLimiter(context.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = burst,
                TokensPerPeriod = perSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
            });
}
