using Aspire.Hosting.Publishing;
using ServiceDefaults = Microsoft.Extensions.Hosting.Extensions;

namespace TrackMulti.AppHost;

// Probes are marked experimental in Aspire 13.6; they are how health endpoints reach deployments.
#pragma warning disable ASPIREPROBES001

public static class HealthEndpoints
{
    /// <summary>
    /// Readiness and liveness probes on the paths ServiceDefaults maps. In run mode each is also a health check that
    /// WaitFor and the dashboard use; in the manifest they are written as <c>probes</c> next to the project's usual
    /// fields, because the v0 format has no field of its own for them.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithHealthEndpoints(this IResourceBuilder<ProjectResource> project) =>
        project
            .WithHttpProbe(ProbeType.Readiness, ServiceDefaults.ReadyPath, endpointName: "http")
            .WithHttpProbe(ProbeType.Liveness, ServiceDefaults.AlivePath, endpointName: "http")
            .WithManifestPublishingCallback(context => WriteProjectWithProbesAsync(context, project.Resource));

    private static async Task WriteProjectWithProbesAsync(ManifestPublishingContext context, ProjectResource project)
    {
        var writer = context.Writer;
        writer.WriteString("type", "project.v0");
        writer.WriteString("path", context.GetManifestRelativePath(project.GetProjectMetadata().ProjectPath));
        await context.WriteEnvironmentVariablesAsync(project);
        context.WriteBindings(project);

        writer.WriteStartArray("probes");
        foreach (var probe in project.Annotations.OfType<EndpointProbeAnnotation>())
        {
            writer.WriteStartObject();
            writer.WriteString("type", probe.Type.ToString().ToLowerInvariant());
            writer.WriteString("path", probe.Path);
            writer.WriteString("endpoint", probe.EndpointReference.EndpointName);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
    }
}
