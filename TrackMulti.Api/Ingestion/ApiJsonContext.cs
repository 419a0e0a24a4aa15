using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;

namespace TrackMulti.Api.Ingestion;

/// <summary>The Api's answers, serialized by generated code (camelCase, as ASP.NET Core's defaults).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(TrackResponse))]
[JsonSerializable(typeof(BatchResponse))]
[JsonSerializable(typeof(FlushResponse))]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(ObjectsResponse))]
[JsonSerializable(typeof(ServiceInfo))]
[JsonSerializable(typeof(ProblemDetails))]
[JsonSerializable(typeof(HttpValidationProblemDetails))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
