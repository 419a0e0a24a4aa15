using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace TrackMulti.Api.Sinks;

/// <summary>How every sink paces its attempts: quick retries within a round, then growing pauses between rounds.</summary>
public static class DeliveryPipeline
{
    /// <summary>
    /// Quick retries of transient failures (exponential backoff with jitter, or the destination's own wait when
    /// <paramref name="retryAfter"/> names one), each attempt with its own timeout (inside the retry).
    /// </summary>
    public static ResiliencePipelineBuilder AddDeliveryAttempts(
        this ResiliencePipelineBuilder pipeline, int retries, TimeSpan baseDelay, TimeSpan attemptTimeout,
        Func<Exception, bool> isTransient, Func<Exception, TimeSpan?>? retryAfter = null)
    {
        if (retries > 0)
        {
            pipeline.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(isTransient),
                MaxRetryAttempts = retries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = baseDelay,
                DelayGenerator = retryAfter is null ? null
                    : attempt => ValueTask.FromResult(attempt.Outcome.Exception is { } failure ? retryAfter(failure) : null),
            });
        }
        return pipeline.AddTimeout(new TimeoutStrategyOptions { Timeout = attemptTimeout });
    }

    /// <summary>The pause after <paramref name="failedRounds"/> failed rounds in a row: doubles from one second, capped.</summary>
    public static TimeSpan PauseAfter(int failedRounds, int maxSeconds) =>
        TimeSpan.FromSeconds(Math.Min(maxSeconds, Math.Pow(2, Math.Min(failedRounds - 1, 20))));
}
