using Microsoft.Extensions.Options;
using Polly;

namespace TrackMulti.Api.Sinks.Fme;

public static class FmeExtensions
{
    /// <summary>The FME sink, its posting rules and their pipeline; nothing when forwarding is off (<see cref="FmeOptions.OffBecause"/>).</summary>
    public static IHostApplicationBuilder AddFmeSink(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<FmeOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<FmeOptions>, FmeOptionsValidator>();
        if ((builder.Configuration.Get<FmeOptions>() ?? new FmeOptions()).OffBecause is not null)
        {
            return builder;
        }

        builder.Services.AddResiliencePipeline(FmeSender.PipelineName, (pipeline, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<FmeOptions>>().Value;
            // FME's Retry-After, when it sends one, within the same bound as the pause between rounds.
            pipeline.AddDeliveryAttempts(options.Retries, options.RetryBaseDelay, options.AttemptTimeout, FmeFaults.IsTransient,
                failure => failure is FmeResponseException { RetryAfter: { } wait }
                    ? TimeSpan.FromSeconds(Math.Min(wait.TotalSeconds, options.PauseMaxSeconds))
                    : null);
        });

        builder.Services.AddSingleton<FmeSender>();
        builder.AddSink<FmeSink>();
        return builder;
    }
}
