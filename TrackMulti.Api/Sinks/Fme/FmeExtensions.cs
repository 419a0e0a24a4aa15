using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace TrackMulti.Api.Sinks.Fme;

public static class FmeExtensions
{
    /// <summary>The FME sink and its pipeline; nothing when forwarding is off (<see cref="FmeOptions.OffBecause"/>).</summary>
    public static IHostApplicationBuilder AddFmeSink(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<FmeOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<FmeOptions>, FmeOptionsValidator>();
        if ((builder.Configuration.Get<FmeOptions>() ?? new FmeOptions()).OffBecause is not null)
        {
            return builder;
        }

        builder.Services.AddResiliencePipeline(FmeSink.PipelineName, (pipeline, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<FmeOptions>>().Value;
            if (options.Retries > 0)
            {
                pipeline.AddRetry(new RetryStrategyOptions
                {
                    ShouldHandle = new PredicateBuilder().Handle<Exception>(FmeFaults.IsTransient),
                    MaxRetryAttempts = options.Retries,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = options.RetryBaseDelay,
                    // FME's Retry-After, when it sends one, within the same bound as the pause between rounds.
                    DelayGenerator = attempt => ValueTask.FromResult(attempt.Outcome.Exception is FmeResponseException { RetryAfter: { } wait }
                        ? TimeSpan.FromSeconds(Math.Min(wait.TotalSeconds, options.PauseMaxSeconds))
                        : (TimeSpan?)null),
                });
            }
            pipeline.AddTimeout(new TimeoutStrategyOptions { Timeout = options.AttemptTimeout });
        });

        builder.AddSink<FmeSink>();
        return builder;
    }
}
