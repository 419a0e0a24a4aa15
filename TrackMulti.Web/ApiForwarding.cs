using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

namespace TrackMulti.Web;

/// <summary>
/// The browser talks only to this origin: <c>/api/*</c> is forwarded to the Api, found by service discovery
/// (<c>http://api</c>), so the page needs no Api address, no CORS and no credential. The Api's keys are added here,
/// on the server (<c>INGEST_API_KEY</c> for track, <c>ADMIN_API_KEY</c> for the rest); whatever key a browser sends is
/// dropped first.
/// </summary>
public static class ApiForwarding
{
    /// <summary>The Api's address as service discovery resolves it (the AppHost's <c>WithReference(api)</c>).</summary>
    public const string ApiAddress = "http://api";

    /// <summary>The header the Api reads its keys from (it also takes <c>Authorization: Bearer</c>).</summary>
    public const string ApiKeyHeader = "X-Api-Key";

    public static IHostApplicationBuilder AddApiForwarding(this IHostApplicationBuilder builder)
    {
        var apiAddress = builder.Configuration["API_URL"] is { Length: > 0 } configured ? configured : ApiAddress;
        builder.Services.AddReverseProxy()
            .LoadFromMemory(
                [new RouteConfig { RouteId = "api", ClusterId = "api", Match = new RouteMatch { Path = "/api/{**rest}" } }],
                [new ClusterConfig
                {
                    ClusterId = "api",
                    Destinations = new Dictionary<string, DestinationConfig> { ["api"] = new() { Address = apiAddress } },
                }])
            .AddServiceDiscoveryDestinationResolver()
            .AddTransforms(transforms =>
            {
                var ingestKey = builder.Configuration["INGEST_API_KEY"];
                var adminKey = builder.Configuration["ADMIN_API_KEY"];
                transforms.AddRequestTransform(context =>
                {
                    var headers = context.ProxyRequest.Headers;
                    headers.Remove("Authorization");
                    headers.Remove(ApiKeyHeader);
                    var key = context.HttpContext.Request.Path.StartsWithSegments("/api/track") ? ingestKey : adminKey;
                    if (!string.IsNullOrEmpty(key))
                    {
                        headers.TryAddWithoutValidation(ApiKeyHeader, key);
                    }
                    return ValueTask.CompletedTask;
                });
            });
        return builder;
    }

    public static IEndpointRouteBuilder MapApiForwarding(this IEndpointRouteBuilder app)
    {
        app.MapReverseProxy();
        return app;
    }
}
