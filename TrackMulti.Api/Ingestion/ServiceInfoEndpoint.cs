using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// The seed's <c>GET /health</c>: service name, version and endpoints, plus the real readiness result
/// (503 when a check fails, so load balancers can use it too).
/// </summary>
public static class ServiceInfoEndpoint
{
    public const string ServiceName = "Harness FME + S3 Event Batching Server";
    public const string Version = "1.0.0";

    public static IEndpointRouteBuilder MapServiceInfo(this IEndpointRouteBuilder app)
    {
        app.MapGet(Extensions.HealthPath, GetAsync)
            .Produces<ServiceInfo>(StatusCodes.Status200OK).Produces<ServiceInfo>(StatusCodes.Status503ServiceUnavailable)
            .WithTags("Health").WithSummary("The service, its version and endpoints, and every health check's result.");
        return app;
    }

    public static async Task<JsonHttpResult<ServiceInfo>> GetAsync(HealthCheckService health, CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(cancellationToken);
        var info = new ServiceInfo(
            ServiceName,
            Version,
            new Dictionary<string, string>
            {
                ["track"] = "POST /api/track",
                ["flush"] = "POST /api/flush",
                ["status"] = "GET /api/status",
            },
            report.Status.ToString(),
            report.Entries.ToDictionary(e => e.Key, e => e.Value.Status.ToString()));
        var statusCode = report.Status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
        return TypedResults.Json(info, statusCode: statusCode);
    }
}

public sealed record ServiceInfo(
    string Service, string Version, IReadOnlyDictionary<string, string> Endpoints, string Status, IReadOnlyDictionary<string, string> Checks);
