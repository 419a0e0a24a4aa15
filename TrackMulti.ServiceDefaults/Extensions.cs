using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// What every TrackMulti service shares: OpenTelemetry, health checks, service discovery and
/// resilient HttpClients. Services add their own meters and activity sources through
/// <see cref="TelemetrySources"/> so the names live next to the code that emits them.
/// </summary>
public static class Extensions
{
    /// <summary>Liveness: the process answers. Never depends on S3 or other services.</summary>
    public const string AlivePath = "/alive";

    /// <summary>Readiness probe path, separate from the seed's <c>/health</c> information endpoint.</summary>
    public const string ReadyPath = "/ready";

    public const string LiveTag = "live";

    /// <summary>The seed's health endpoint: the Api's says more (<c>ServiceInfoEndpoint</c>); the Web's is <see cref="MapHealthSummary"/>.</summary>
    public const string HealthPath = "/health";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, TelemetrySources? sources = null)
        where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry(sources ?? new TelemetrySources());
        builder.AddDefaultHealthChecks();
        builder.Services.KeepArrivedRequests();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, TelemetrySources sources)
        where TBuilder : IHostApplicationBuilder
    {
        // Export only when an endpoint is configured (the AppHost sets it; a bare `dotnet run` does not). Without one
        // nobody reads the telemetry, so no listener is added either and a request creates no spans to throw away.
        if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            return builder;
        }

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics.AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation()
                    .AddMeter([.. sources.Meters]);
            })
            .WithTracing(tracing =>
            {
                tracing.AddSource(builder.Environment.ApplicationName)
                    .AddSource([.. sources.ActivitySources])
                    .AddAspNetCoreInstrumentation(options =>
                        // Probes are noise in the trace view.
                        options.Filter = context =>
                            !context.Request.Path.StartsWithSegments(AlivePath)
                            && !context.Request.Path.StartsWithSegments(ReadyPath))
                    .AddHttpClientInstrumentation();
            });

        builder.Services.AddOpenTelemetry().UseOtlpExporter();
        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>Maps <c>/alive</c> (live-tagged checks only) and <c>/ready</c> (every check).</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(ReadyPath);
        app.MapHealthChecks(AlivePath, new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(LiveTag),
        });
        return app;
    }

    /// <summary>
    /// Maps <see cref="HealthPath"/>: every check of this service, as <c>{"status", "checks": {name: status}}</c> (the
    /// Api's field names), 503 when one fails. In every environment, like the probes: a deployed service is probed too,
    /// and the answer names no secret.
    /// </summary>
    public static WebApplication MapHealthSummary(this WebApplication app)
    {
        app.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = WriteSummaryAsync });
        return app;
    }

    private static async Task WriteSummaryAsync(Microsoft.AspNetCore.Http.HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json; charset=utf-8";
        await using var json = new System.Text.Json.Utf8JsonWriter(http.Response.Body);
        json.WriteStartObject();
        json.WriteString("status", report.Status.ToString());
        json.WriteStartObject("checks");
        foreach (var (name, entry) in report.Entries)
        {
            json.WriteString(name, entry.Status.ToString());
        }
        json.WriteEndObject();
        json.WriteEndObject();
    }
}

/// <summary>The meters and activity sources a service emits, registered with OpenTelemetry.</summary>
public sealed record TelemetrySources
{
    public IReadOnlyList<string> Meters { get; init; } = [];
    public IReadOnlyList<string> ActivitySources { get; init; } = [];
}
