using Yarp.ReverseProxy.Configuration;

namespace TrackMulti.Web;

/// <summary>
/// The browser talks only to this origin: <c>/api/*</c> is forwarded to the Api, found by service discovery
/// (<c>http://api</c>), so the page needs no Api address, no CORS and no credential.
/// </summary>
public static class ApiForwarding
{
    /// <summary>The Api's address as service discovery resolves it (the AppHost's <c>WithReference(api)</c>).</summary>
    public const string ApiAddress = "http://api";

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
            .AddServiceDiscoveryDestinationResolver();
        return builder;
    }

    public static IEndpointRouteBuilder MapApiForwarding(this IEndpointRouteBuilder app)
    {
        app.MapReverseProxy();
        return app;
    }
}
