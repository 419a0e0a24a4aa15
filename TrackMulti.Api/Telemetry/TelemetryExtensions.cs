namespace TrackMulti.Api.Telemetry;

public static class TelemetryExtensions
{
    /// <summary>What ServiceDefaults must export for the Api.</summary>
    public static readonly TelemetrySources Sources = new()
    {
        Meters = [TrackMetrics.MeterName],
        ActivitySources = [TrackTracing.SourceName],
    };

    public static IHostApplicationBuilder AddTrackTelemetry(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<TrackMetrics>();
        return builder;
    }
}
