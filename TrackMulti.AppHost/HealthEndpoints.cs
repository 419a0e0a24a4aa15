using ServiceDefaults = Microsoft.Extensions.Hosting.Extensions;

namespace TrackMulti.AppHost;

// Probes are marked experimental in Aspire 13.6; they are the only way health endpoints reach a deployment manifest.
#pragma warning disable ASPIREPROBES001

public static class HealthEndpoints
{
    /// <summary>
    /// Readiness and liveness probes on the paths ServiceDefaults maps. They travel to deployments, and in run mode
    /// the readiness probe is also the health check that WaitFor and the dashboard use.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithHealthEndpoints(this IResourceBuilder<ProjectResource> project) =>
        project
            .WithHttpProbe(ProbeType.Readiness, ServiceDefaults.ReadyPath, endpointName: "http")
            .WithHttpProbe(ProbeType.Liveness, ServiceDefaults.AlivePath, endpointName: "http");
}
