using System.Net;
using System.Net.Sockets;
using Polly.Timeout;

namespace TrackMulti.Api.Sinks.Fme;

/// <summary>FME answered a post with something other than success.</summary>
public sealed class FmeResponseException(HttpStatusCode status, TimeSpan? retryAfter, string detail)
    : Exception($"FME answered {(int)status} {status}: {detail}")
{
    public HttpStatusCode Status { get; } = status;

    /// <summary>FME's <c>Retry-After</c>, when it sent one (with 429 or 503).</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>Which FME failures are worth retrying at once, which refuse the post itself, and a short reason.</summary>
public static class FmeFaults
{
    /// <summary>429, 408, 5xx, timeouts and connection faults.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        FmeResponseException { Status: var status } => (int)status >= 500 || status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout,
        TimeoutRejectedException or TimeoutException or HttpRequestException or IOException or SocketException => true,
        _ => false,
    };

    /// <summary>FME refused the post's content (400, 413, 422): sending it again cannot succeed.</summary>
    public static bool IsRejected(Exception exception) =>
        exception is FmeResponseException { Status: HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnprocessableEntity };

    /// <summary>A short, low-cardinality reason for metrics: throttled, unauthorized, forbidden, server_error, …</summary>
    public static string Reason(Exception exception) => exception switch
    {
        FmeResponseException { Status: HttpStatusCode.TooManyRequests } => "throttled",
        FmeResponseException { Status: HttpStatusCode.Unauthorized } => "unauthorized",
        FmeResponseException { Status: HttpStatusCode.Forbidden } => "forbidden",
        FmeResponseException e when IsRejected(e) => "rejected",
        FmeResponseException { Status: var status } when (int)status >= 500 => "server_error",
        FmeResponseException => "client_error",
        TimeoutRejectedException or TimeoutException or OperationCanceledException => "timeout",
        HttpRequestException or IOException or SocketException => "connection",
        _ => "other",
    };

    public static string Describe(Exception exception) => exception switch
    {
        FmeResponseException => exception.Message,
        TimeoutRejectedException => "the post attempt timed out",
        _ => $"{exception.GetType().Name}: {exception.Message}",
    };
}
