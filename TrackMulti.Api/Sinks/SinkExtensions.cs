using TrackMulti.Api.Pipeline;

namespace TrackMulti.Api.Sinks;

public static class SinkExtensions
{
    /// <summary>
    /// Registers a sink as itself, as one of <see cref="IDeliveryStatus"/> (for status) and as a hosted service. Sinks stop in
    /// the reverse order of their registration, each delivering what is left while the shutdown timeout lasts.
    /// </summary>
    public static IHostApplicationBuilder AddSink<TSink>(this IHostApplicationBuilder builder) where TSink : Sink
    {
        builder.Services.AddSingleton<TSink>();
        builder.Services.AddSingleton<IDeliveryStatus>(sp => sp.GetRequiredService<TSink>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TSink>());
        return builder;
    }
}
