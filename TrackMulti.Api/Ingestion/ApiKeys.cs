using System.Security.Cryptography;
using System.Text;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// Requires an API key on an endpoint when one is configured: <c>Authorization: Bearer &lt;key&gt;</c> or
/// <c>X-Api-Key: &lt;key&gt;</c>. Compared in constant time (of SHA-256 digests, so the length does not leak either).
/// </summary>
public static class ApiKeys
{
    public const string HeaderName = "X-Api-Key";

    /// <summary>The roles of the two keys, as the OpenAPI document names them.</summary>
    public const string IngestRole = "ingest";
    public const string AdminRole = "admin";

    /// <summary><c>INGEST_API_KEY</c>, when set. Without a key configured the endpoint gets no filter at all.</summary>
    public static TBuilder RequireIngestKey<TBuilder>(this TBuilder endpoint, IngestionOptions options) where TBuilder : IEndpointConventionBuilder =>
        options.IngestApiKey is { Length: > 0 } key ? endpoint.Require(key, IngestRole, countsAsRejectedEvent: true) : endpoint;

    /// <summary><c>ADMIN_API_KEY</c>, when set.</summary>
    public static TBuilder RequireAdminKey<TBuilder>(this TBuilder endpoint, IngestionOptions options) where TBuilder : IEndpointConventionBuilder =>
        options.AdminApiKey is { Length: > 0 } key ? endpoint.Require(key, AdminRole, countsAsRejectedEvent: false) : endpoint;

    /// <summary>The filter, and what the OpenAPI document says of it: the key's role and the two refusals.</summary>
    private static TBuilder Require<TBuilder>(this TBuilder endpoint, string key, string role, bool countsAsRejectedEvent)
        where TBuilder : IEndpointConventionBuilder =>
        endpoint.AddEndpointFilter(Filter(key, countsAsRejectedEvent))
            .WithMetadata(new ApiKeyRequirement(role))
            .Refuses(Rejections.MissingApiKey, Rejections.WrongApiKey);

    /// <summary>The key a request presents, if any.</summary>
    public static string? Presented(HttpRequest request) => Bearer(request) ?? InHeader(request);

    /// <summary>The key in <c>Authorization: Bearer</c>, if any (on <c>/fme/api</c>: the FME SDK's key).</summary>
    public static string? Bearer(HttpRequest request) =>
        request.Headers.Authorization.ToString() is { Length: > 7 } authorization
        && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? authorization[7..].Trim()
            : null;

    /// <summary>The key in <c>X-Api-Key</c>, if any (the Web sends the ingest key there beside the SDK's Bearer).</summary>
    public static string? InHeader(HttpRequest request) =>
        request.Headers[HeaderName].ToString() is { Length: > 0 } key ? key.Trim() : null;

    /// <summary>Whether the request carries <paramref name="expected"/> in either place.</summary>
    public static bool Carries(HttpRequest request, string expected) =>
        (Bearer(request) is { } bearer && Matches(bearer, expected)) || (InHeader(request) is { } header && Matches(header, expected));

    public static bool Matches(string presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(presented)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    private static Func<EndpointFilterInvocationContext, EndpointFilterDelegate, ValueTask<object?>> Filter(
        string expected, bool countsAsRejectedEvent) =>
        async (context, next) =>
        {
            var http = context.HttpContext;
            var presented = Presented(http.Request);
            if (presented is not null && Matches(presented, expected))
            {
                return await next(context);
            }

            var rejection = presented is null ? Rejections.MissingApiKey : Rejections.WrongApiKey;
            if (countsAsRejectedEvent)
            {
                http.RequestServices.GetRequiredService<TrackMetrics>().Rejected(rejection.Reason!);
            }
            if (presented is null)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return rejection.Problem($"Send the key as 'Authorization: Bearer <key>' or '{HeaderName}: <key>'.");
            }
            return rejection.Problem("The key sent is not the one this endpoint requires.");
        };
}
