using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Net.Http.Headers;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace TrackMulti.Api.Ingestion;

/// <summary>
/// The Api's OpenAPI document (<c>/openapi/v1.json</c>), built from the endpoints themselves: their typed results,
/// the request shapes they accept, the refusals they declare (<see cref="Refuses{TBuilder}"/>, each one a row of
/// <see cref="Rejections"/>) and the keys they require (<see cref="ApiKeys"/>). In Development, a browsing UI at
/// <c>/scalar</c>.
/// </summary>
public static class ApiDocument
{
    public const string Name = "v1";

    /// <summary>Where the document is served (<c>{documentName}</c> is <see cref="Name"/>).</summary>
    public const string Pattern = "/openapi/{documentName}.json";

    public const string UiPath = "/scalar";

    public const string ProblemContentType = "application/problem+json";

    /// <summary>Security schemes: an Api key in <c>Authorization: Bearer</c> or in <c>X-Api-Key</c>; the FME SDK's key.</summary>
    public const string BearerScheme = "apiKeyBearer";
    public const string HeaderScheme = "apiKeyHeader";
    public const string FmeSdkScheme = "fmeSdkKey";

    public static IHostApplicationBuilder AddApiDocument(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOpenApi(Name, options =>
        {
            options.AddDocumentTransformer(DescribeDocumentAsync);
            options.AddOperationTransformer(DescribeOperationAsync);
            options.AddSchemaTransformer(EcmaPatternsAsync);
            options.AddSchemaTransformer(TrackEventLimitsAsync);
        });
        return builder;
    }

    /// <summary>
    /// The document for everyone, like <c>/health</c> and <c>/api/status</c>: it names schemes, never a key, and only
    /// says what the endpoints already answer to anyone who asks. The UI only in Development.
    /// </summary>
    public static WebApplication MapApiDocument(this WebApplication app)
    {
        app.MapOpenApi(Pattern);
        if (app.Environment.IsDevelopment())
        {
            app.MapScalarApiReference(UiPath, ui => ui.WithOpenApiRoutePattern(Pattern));
        }
        return app;
    }

    /// <summary>Declares refusals an endpoint can answer with: documented as problem responses, by status and type.</summary>
    public static TBuilder Refuses<TBuilder>(this TBuilder endpoint, IEnumerable<Rejection> rejections) where TBuilder : IEndpointConventionBuilder
    {
        var declared = new RefusalsMetadata([.. rejections]);
        endpoint.WithMetadata(declared);
        foreach (var status in declared.Rejections.GroupBy(r => r.Status))
        {
            var schema = status.Any(r => r.ErrorsByField) ? typeof(HttpValidationProblemDetails) : typeof(ProblemDetails);
            endpoint.WithMetadata(new ProducesResponseTypeMetadata(status.Key, schema, [ProblemContentType]));
        }
        return endpoint;
    }

    /// <summary>
    /// Documents the body an endpoint reads itself. Not <c>Accepts</c>: its metadata makes routing turn other content
    /// types away with a bare 415, before the endpoint could answer with its own problem type.
    /// </summary>
    public static TBuilder Reads<TBody, TBuilder>(this TBuilder endpoint, params string[] contentTypes) where TBuilder : IEndpointConventionBuilder =>
        endpoint.WithMetadata(new RequestBodyMetadata(typeof(TBody), contentTypes));

    public static TBuilder Refuses<TBuilder>(this TBuilder endpoint, params Rejection[] rejections) where TBuilder : IEndpointConventionBuilder =>
        endpoint.Refuses((IEnumerable<Rejection>)rejections);

    private static Task DescribeDocumentAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "TrackMulti Api",
            Version = ServiceInfoEndpoint.Version,
            Description = "Product-analytics events to S3 (NDJSON) and Harness FME. Every refusal is an RFC 7807 problem "
                + "(application/problem+json) whose `type` (urn:trackmulti:problem:…) says which; each operation lists its own.",
        };
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An Api key as `Authorization: Bearer <key>`: INGEST_API_KEY (role `ingest`) or ADMIN_API_KEY (role `admin`), when set.",
        };
        document.Components.SecuritySchemes[HeaderScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = ApiKeys.HeaderName,
            Description = $"The same Api key in `{ApiKeys.HeaderName}`.",
        };
        document.Components.SecuritySchemes[FmeSdkScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "The FME SDK key this TrackMulti is configured with (HARNESS_FME_API_KEY or HARNESS_FME_SERVER_KEY), "
                + "as the FME SDK sends it. A beacon carries it in its body's `token` instead.",
        };

        // The probes are health-check endpoints, not route handlers, so the endpoints do not describe themselves.
        document.Paths ??= new OpenApiPaths();
        foreach (var (path, summary) in new[]
        {
            (Extensions.AlivePath, "Liveness: the process answers and its spool can be trusted."),
            (Extensions.ReadyPath, "Readiness: every health check, S3's bucket included."),
        })
        {
            document.Paths[path] = new OpenApiPathItem
            {
                Operations = new Dictionary<HttpMethod, OpenApiOperation>
                {
                    [HttpMethod.Get] = new()
                    {
                        Summary = summary,
                        Tags = new HashSet<OpenApiTagReference> { new("Health", document) },
                        Responses = new OpenApiResponses
                        {
                            ["200"] = PlainText("Healthy (or Degraded)."),
                            ["503"] = PlainText("Unhealthy."),
                        },
                    },
                },
            };
        }
        return Task.CompletedTask;
    }

    private static OpenApiResponse PlainText(string description) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType>
        {
            ["text/plain"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } },
        },
    };

    private static async Task DescribeOperationAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        if (metadata.OfType<RequestBodyMetadata>().LastOrDefault() is { } body)
        {
            var schema = await BodySchemaAsync(body.Type, context, cancellationToken);
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = body.ContentTypes.ToDictionary(type => type, type => EventIntake.NdjsonTypes.Contains(type, StringComparer.OrdinalIgnoreCase)
                    // NDJSON is a text stream of the JSON array's items, one a line, which a JSON schema cannot describe as a whole.
                    ? new OpenApiMediaType
                    {
                        Schema = new OpenApiSchema
                        {
                            Type = JsonSchemaType.String,
                            Description = "NDJSON: one event per line, each as one item of the application/json array; empty lines are passed over.",
                        },
                    }
                    : new OpenApiMediaType { Schema = schema }),
            };
        }
        DescribeRefusals(operation, metadata.OfType<RefusalsMetadata>().SelectMany(m => m.Rejections).Distinct());

        var roles = metadata.OfType<ApiKeyRequirement>().Select(r => r.Role).Distinct().ToList();
        if (roles.Count > 0)
        {
            // Either scheme will do: alternatives in OpenAPI are separate requirements.
            operation.Security =
            [
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = roles },
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(HeaderScheme, context.Document)] = roles },
            ];
        }
        if (metadata.OfType<FmeSdkKeyRequirement>().Any())
        {
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(FmeSdkScheme, context.Document)] = [] }];
        }
    }

    /// <summary>A body's schema as a named component (a list: an array of one), so a generated client names the type.</summary>
    private static async Task<IOpenApiSchema> BodySchemaAsync(Type type, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var item = type.IsGenericType && type.GetGenericTypeDefinition() is var definition
            && (definition == typeof(List<>) || definition == typeof(IReadOnlyList<>)) ? type.GetGenericArguments()[0] : null;
        if (item is not null)
        {
            return new OpenApiSchema { Type = JsonSchemaType.Array, Items = await BodySchemaAsync(item, context, cancellationToken) };
        }
        var name = type.IsGenericType
            ? type.Name[..type.Name.IndexOf('`')] + "Of" + string.Concat(type.GetGenericArguments().Select(NameOf))
            : type.Name;
        var document = context.Document!;
        if (document.Components?.Schemas?.ContainsKey(name) != true)
        {
            document.AddComponent(name, await context.GetOrCreateSchemaAsync(type, cancellationToken: cancellationToken));
        }
        return new OpenApiSchemaReference(name, document);

        static string NameOf(Type argument) =>
            argument.IsGenericType ? "ListOf" + NameOf(argument.GetGenericArguments()[0]) : argument.Name;
    }

    /// <summary>Each status's response names its problem types, with an example of each.</summary>
    private static void DescribeRefusals(OpenApiOperation operation, IEnumerable<Rejection> rejections)
    {
        foreach (var status in rejections.GroupBy(r => r.Status))
        {
            operation.Responses ??= new OpenApiResponses();
            var code = status.Key.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (operation.Responses.TryGetValue(code, out var existing) && existing is OpenApiResponse response)
            {
                response.Description = "Refused: " + string.Join("; ", status.Select(r => $"`{r.Type}` ({r.Title})"));
                if (status.Where(r => r.SaysWhenToRetry).Select(r => $"`{r.Type}`").ToList() is { Count: > 0 } retryable)
                {
                    response.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    response.Headers[HeaderNames.RetryAfter] = new OpenApiHeader
                    {
                        Description = $"Seconds to wait before sending again (with {string.Join(", ", retryable)}).",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" },
                    };
                }
                if (response.Content?.TryGetValue(ProblemContentType, out var found) == true && found is OpenApiMediaType media)
                {
                    media.Examples ??= new Dictionary<string, IOpenApiExample>();
                    foreach (var rejection in status)
                    {
                        media.Examples[rejection.Type[(rejection.Type.LastIndexOf(':') + 1)..]] = new OpenApiExample
                        {
                            Summary = rejection.Title,
                            Value = new JsonObject { ["type"] = rejection.Type, ["title"] = rejection.Title, ["status"] = rejection.Status },
                        };
                    }
                }
            }
        }
    }

    /// <summary>What data annotations cannot say: the most entries <c>properties</c> may hold.</summary>
    private static Task TrackEventLimitsAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.JsonPropertyInfo is { Name: "properties" } property && property.DeclaringType == typeof(TrackEventRequest))
        {
            schema.MaxProperties = TrackEventReader.MaxProperties;
        }
        return Task.CompletedTask;
    }

    /// <summary>.NET patterns end in <c>\z</c> (no final newline); JSON Schema's (ECMA-262) have no <c>\z</c>, and <c>$</c> means the same there.</summary>
    private static Task EcmaPatternsAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (schema.Pattern is { } pattern && pattern.EndsWith(@"\z", StringComparison.Ordinal))
        {
            schema.Pattern = pattern[..^2] + "$";
        }
        return Task.CompletedTask;
    }
}

/// <summary>The body an endpoint reads itself, for the document (<see cref="ApiDocument.Reads{TBody, TBuilder}"/>).</summary>
public sealed record RequestBodyMetadata(Type Type, IReadOnlyList<string> ContentTypes);

/// <summary>The refusals an endpoint declares (<see cref="ApiDocument.Refuses{TBuilder}(TBuilder, IEnumerable{Rejection})"/>).</summary>
public sealed record RefusalsMetadata(IReadOnlyList<Rejection> Rejections);

/// <summary>The endpoint requires an Api key of this role (<c>ingest</c>, <c>admin</c>): set with the key's filter.</summary>
public sealed record ApiKeyRequirement(string Role);

/// <summary>The endpoint requires the FME SDK key in <c>Authorization: Bearer</c>.</summary>
public sealed record FmeSdkKeyRequirement;

/// <summary>
/// One event as <c>POST /api/track</c> reads it (<see cref="TrackEventReader"/>, whose limits the schema names): for
/// the document only.
/// </summary>
[Description("Top-level fields not named here are kept as sent, except `receivedAt`, which is the server's.")]
public sealed record TrackEventRequest(
    [property: Required, RegularExpression(TrackEventReader.EventTypePatternText), Description("The FME event type.")]
    string Name,
    [property: MinLength(1), Description("Lower-cased as the FME SDKs do; `user` when absent.")]
    string? TrafficType = null,
    [property: StringLength(TrackEventReader.MaxKeyLength, MinimumLength = 1), Description("The FME key; stored trimmed.")]
    string? Key = null,
    [property: JsonNumberHandling(JsonNumberHandling.Strict), Description("A finite number, stored exactly as sent.")]
    double? Value = null,
    [property: Description("Strings, numbers, booleans or nulls, within FME's size limit for properties.")]
    Dictionary<string, JsonElement?>? Properties = null);

/// <summary>An FME SDK beacon (<c>navigator.sendBeacon</c>, sent as <c>text/plain</c>): the post's entries and its key.</summary>
public sealed record FmeBeacon<TEntries>(TEntries Entries, string Token, string? Sdk = null);
